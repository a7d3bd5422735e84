"""The schema, as the ordered steps that made it: frozen. A released step never changes (a
database that ran it would not run it again); a change to the schema is a new step."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tui-label")
MIGRATIONS: list = []  # ours, in order; the schema version is how many of them have run


def migration(fn):
    """Register a schema step (with sqlite-utils, and in our own ordered list)."""
    MIGRATIONS.append(fn)
    return migrations()(fn)


@migration
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,          -- relative to the dataset root, '/' separated
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'unknown'
                CHECK (status IN ('unknown', 'ok', 'unreadable', 'missing')),
            reason TEXT,                        -- why it is unreadable
            width INTEGER,
            height INTEGER
        );
        CREATE TABLE classes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            hotkey TEXT UNIQUE,                 -- NULL: kept for its labels, no longer offered
            position INTEGER NOT NULL
        );
        CREATE TABLE label_events (
            id INTEGER PRIMARY KEY,
            image_id INTEGER NOT NULL REFERENCES images(id),
            action TEXT NOT NULL CHECK (action IN ('label', 'skip', 'clear')),
            class_id INTEGER REFERENCES classes(id),
            annotator TEXT NOT NULL,
            created_at TEXT NOT NULL,           -- ISO 8601, UTC
            ms_on_screen INTEGER,
            undo_of INTEGER REFERENCES label_events(id),
            CHECK ((action = 'label') = (class_id IS NOT NULL))
        );
        CREATE INDEX label_events_image ON label_events (image_id, id);
        CREATE VIEW current_labels AS
            SELECT e.image_id, i.path, e.action, c.name AS class, e.annotator, e.created_at
            FROM label_events e
            JOIN (SELECT image_id, MAX(id) AS id FROM label_events GROUP BY image_id) last
                ON e.id = last.id
            JOIN images i ON i.id = e.image_id
            LEFT JOIN classes c ON c.id = e.class_id
            WHERE e.action != 'clear';
        """
    )


@migration
def m002_training(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE splits (
            image_id INTEGER PRIMARY KEY REFERENCES images(id),
            split TEXT NOT NULL CHECK (split IN ('train', 'val'))
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'finished', 'failed', 'cancelled')),
            reason TEXT,                        -- why it failed or was cancelled
            model TEXT NOT NULL,
            device TEXT,
            config TEXT NOT NULL,               -- JSON
            class_names TEXT NOT NULL,          -- JSON list, in the model's output order
            num_train INTEGER,
            num_val INTEGER,
            best_accuracy REAL,
            best_checkpoint TEXT,
            last_checkpoint TEXT,
            pid INTEGER,
            host TEXT,
            progress TEXT                       -- JSON of the latest step event
        );
        CREATE TABLE run_epochs (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            epoch INTEGER NOT NULL,
            train_loss REAL,
            val_loss REAL,
            accuracy REAL,
            macro_f1 REAL,
            report TEXT,                        -- JSON: per-class metrics, confusion matrix
            seconds REAL,
            images_per_sec REAL,
            PRIMARY KEY (run_id, epoch)
        );
        """
    )


@migration
def m003_latest_events(db: Database) -> None:
    # One definition of "an image's latest event", used by every query that needs it.
    db.executescript(
        """
        CREATE VIEW latest_events AS
            SELECT e.* FROM label_events e
            JOIN (SELECT image_id, MAX(id) AS id FROM label_events GROUP BY image_id) last
                ON e.id = last.id;
        DROP VIEW current_labels;
        CREATE VIEW current_labels AS
            SELECT e.image_id, i.path, e.action, c.name AS class, e.annotator, e.created_at
            FROM latest_events e
            JOIN images i ON i.id = e.image_id
            LEFT JOIN classes c ON c.id = e.class_id
            WHERE e.action != 'clear';
        """
    )


@migration
def m004_model_in_the_loop(db: Database) -> None:
    # Where a label came from ('key' when NULL, 'suggestion' when accepted, 'review' when a
    # suspect label was confirmed), with the model's probability and run for accepted ones.
    # Predictions: the top classes of each image per run (the full probabilities and the
    # embeddings are memory-mapped arrays beside the run, see tui_label.assist.predictions).
    db.executescript(
        """
        ALTER TABLE label_events ADD COLUMN source TEXT;
        ALTER TABLE label_events ADD COLUMN probability REAL;
        ALTER TABLE label_events ADD COLUMN run_id INTEGER REFERENCES runs(id);
        CREATE TABLE predictions (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            image_id INTEGER NOT NULL REFERENCES images(id),
            kind TEXT NOT NULL CHECK (kind IN ('model', 'oof')),  -- oof: out of sample
            class_id INTEGER REFERENCES classes(id),   -- the top class
            probability REAL NOT NULL,                  -- its probability
            margin REAL NOT NULL,                       -- top minus second probability
            entropy REAL NOT NULL,                      -- of the whole distribution, in nats
            top_k TEXT NOT NULL,                        -- JSON [[class_id, p], ...], best first
            PRIMARY KEY (run_id, kind, image_id)
        );
        CREATE TABLE suspects (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            image_id INTEGER NOT NULL REFERENCES images(id),
            rank INTEGER NOT NULL,                      -- 0: the most doubtful label
            given_class INTEGER NOT NULL REFERENCES classes(id),
            predicted_class INTEGER NOT NULL REFERENCES classes(id),
            probability REAL NOT NULL,                  -- out-of-sample p(predicted_class)
            given_probability REAL NOT NULL,            -- out-of-sample p(given_class)
            PRIMARY KEY (run_id, image_id)
        );
        ALTER TABLE runs ADD COLUMN predicted_at TEXT;  -- when its predictions were stored
        """
    )


@migration
def m005_predicted_through(db: Database) -> None:
    # The last label event a run's predictions were stored after: "labels newer than the
    # model" compare event ids, which never tie (millisecond times can: a label written in the
    # same millisecond as the predictions was counted as older).
    db.executescript(
        """
        ALTER TABLE runs ADD COLUMN predicted_through INTEGER;
        UPDATE runs SET predicted_through = (
            SELECT COALESCE(MAX(e.id), 0) FROM label_events e
            WHERE e.created_at <= runs.predicted_at)
        WHERE predicted_at IS NOT NULL;
        """
    )


@migration
def m006_leases(db: Database) -> None:
    # A team on one database: an image on a labeler's screen (and the few prefetched after it)
    # is leased to that labeler's process for a short while, renewed while shown. A lease is
    # someone else's when its (annotator, host, pid) is not ours; it lapses at expires_at (unix
    # seconds), or at once when its pid on this host is gone.
    db.executescript(
        """
        CREATE TABLE leases (
            image_id INTEGER PRIMARY KEY REFERENCES images(id),
            annotator TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            expires_at REAL NOT NULL
        );
        """
    )


@migration
def m007_multi_label(db: Database) -> None:
    # Multi-label mode: a label event may carry a set of classes, ``classes`` (a JSON list of
    # class ids, sorted; ``[]`` is "none of the classes"), with ``class_id`` NULL. The CHECK of
    # m001 demanded a class_id on every label, so the table is rebuilt (SQLite cannot alter a
    # CHECK); its views and index are made again, as they were.
    db.executescript(
        """
        DROP VIEW current_labels;
        DROP VIEW latest_events;
        CREATE TABLE label_events_new (
            id INTEGER PRIMARY KEY,
            image_id INTEGER NOT NULL REFERENCES images(id),
            action TEXT NOT NULL CHECK (action IN ('label', 'skip', 'clear')),
            class_id INTEGER REFERENCES classes(id),
            annotator TEXT NOT NULL,
            created_at TEXT NOT NULL,
            ms_on_screen INTEGER,
            undo_of INTEGER REFERENCES label_events_new(id),  -- label_events once renamed
            source TEXT,
            probability REAL,
            run_id INTEGER REFERENCES runs(id),
            classes TEXT,                       -- multi-label: JSON list of class ids
            CHECK (class_id IS NULL OR classes IS NULL),
            CHECK ((action = 'label') = (class_id IS NOT NULL OR classes IS NOT NULL))
        );
        INSERT INTO label_events_new (id, image_id, action, class_id, annotator, created_at,
            ms_on_screen, undo_of, source, probability, run_id)
            SELECT id, image_id, action, class_id, annotator, created_at, ms_on_screen,
                undo_of, source, probability, run_id FROM label_events;
        DROP TABLE label_events;
        ALTER TABLE label_events_new RENAME TO label_events;
        CREATE INDEX label_events_image ON label_events (image_id, id);
        CREATE VIEW latest_events AS
            SELECT e.* FROM label_events e
            JOIN (SELECT image_id, MAX(id) AS id FROM label_events GROUP BY image_id) last
                ON e.id = last.id;
        CREATE VIEW current_labels AS
            SELECT e.image_id, i.path, e.action,
                CASE WHEN e.classes IS NULL THEN c.name ELSE (
                    SELECT group_concat(name, ';') FROM (
                        SELECT c2.name FROM json_each(e.classes) j
                        JOIN classes c2 ON c2.id = j.value ORDER BY c2.position))
                END AS class,
                e.annotator, e.created_at
            FROM latest_events e
            JOIN images i ON i.id = e.image_id
            LEFT JOIN classes c ON c.id = e.class_id
            WHERE e.action != 'clear';
        """
    )


@migration
def m008_num_unlabeled(db: Database) -> None:
    # How many unlabeled images a run learned from as well (``--unlabeled``), beside its
    # split sizes: a panel opened on a finished run says it too.
    db.executescript("ALTER TABLE runs ADD COLUMN num_unlabeled INTEGER;")


SCHEMA_VERSION = len(MIGRATIONS)

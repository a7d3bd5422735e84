"""The SQLite store: the only module that speaks SQL.

Images are keyed by their path relative to the dataset root. Labeling is an append-only log of
events (``label`` / ``skip`` / ``clear``); the current label of an image is its latest event, and
undo appends an event that restores the state before the undone one.

Concurrency: WAL journal, a busy timeout, and every write a short ``BEGIN IMMEDIATE``
transaction, so two labelers (processes) can share one database. One ``Store`` per thread or
process; never share one across threads.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from tui_label.config.settings import ClassSpec
from tui_label.errors import UsageError
from tui_label.core.orders import OrderChoice, QueueItem, QueueRow
from tui_label.media.scan import ScannedFile


# How long a write waits for another process's write lock. TUI_LABEL_BUSY_TIMEOUT_MS lowers it
# (tests, and anyone who would rather fail fast than wait).
def _busy_timeout_from_env(default: int = 30_000) -> int:
    text = os.environ.get("TUI_LABEL_BUSY_TIMEOUT_MS", "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise UsageError(f"TUI_LABEL_BUSY_TIMEOUT_MS={text!r}: give a whole number of "
                         "milliseconds")
    return int(text)


BUSY_TIMEOUT_MS = _busy_timeout_from_env()

__all__ = ["QueueItem", "QueueRow", "Store", "StoreWriteError", "ImageState"]


class StoreWriteError(UsageError):
    """A write that did not happen: the disk is full, another process holds the lock past the
    busy timeout, the file is read-only, or an I/O error. ``str()`` is one line for a person;
    ``kind`` is ``full``, ``locked``, ``readonly`` or ``io``. Nothing was written."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_ERROR_KINDS = (  # (sqlite primary result code, words in the message, kind, what to say)
    (13, "disk is full", "full", "disk is full"),
    (5, "database is locked", "locked", "the database is locked by another process"),
    (6, "table is locked", "locked", "the database is locked by another process"),
    (8, "readonly", "readonly", "the database is read-only"),
)


_IOERR_SHMSIZE = 10 | (19 << 8)  # SQLITE_IOERR_SHMSIZE: the -shm file could not grow


def write_error(exc: sqlite3.Error) -> StoreWriteError:
    """The person-readable form of a failed write."""
    extended = getattr(exc, "sqlite_errorcode", None)
    code = extended & 0xFF if isinstance(extended, int) else None
    text = str(exc)
    if extended == _IOERR_SHMSIZE:  # the WAL index could not grow: no room on the disk
        return StoreWriteError("full", "disk is full")
    for primary, words, kind, message in _ERROR_KINDS:
        if code == primary or words in text:
            return StoreWriteError(kind, message)
    return StoreWriteError("io", f"cannot write to the database: {text}")


@dataclass(frozen=True)
class ImageState:
    """An image's current state: the latest event's action and its classes.

    A set of class ids, so a multi-label mode needs no new type; in single-label mode it holds
    one id for ``label`` and none otherwise. ``clear`` is an image with no label (never
    touched, or its label undone).
    """

    action: str = "clear"  # label | skip | clear
    classes: frozenset[int] = frozenset()

    @classmethod
    def of(cls, action: str | None, class_id: int | None = None,
           classes: str | None = None) -> ImageState:
        """From an event's ``action``, ``class_id`` and ``classes`` (the JSON set of a
        multi-label event)."""
        if classes is not None:
            return cls(action or "clear", frozenset(json.loads(classes)))
        return cls(action or "clear", frozenset() if class_id is None else frozenset({class_id}))

    @property
    def class_id(self) -> int | None:
        """The class in single-label mode (None unless labeled)."""
        return next(iter(self.classes)) if len(self.classes) == 1 else None

    @property
    def labeled(self) -> bool:
        return self.action == "label"

    @property
    def skipped(self) -> bool:
        return self.action == "skip"


UNLABELED = ImageState()


def classes_json(class_ids: Iterable[int]) -> str:
    """A multi-label event's ``classes`` column: sorted ids, compact (``[1,3]``), so equal sets
    are equal strings, and equal to SQLite's ``json_array(class_id)`` for a single label."""
    return json.dumps(sorted({int(c) for c in class_ids}), separators=(",", ":"))


# An event's classes as one comparable value: a single label ``c`` reads as the set ``[c]``.
CLASS_SET_SQL = "COALESCE({e}.classes, json_array({e}.class_id))"

migrations = Migrations("tui-label")
MIGRATIONS = []  # ours, in order; the schema version is how many of them have run


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


SCHEMA_VERSION = len(MIGRATIONS)
RUN_COLUMNS = (
    "created_at", "finished_at", "status", "reason", "model", "device", "config", "class_names",
    "num_train", "num_val", "best_accuracy", "best_checkpoint", "last_checkpoint", "pid", "host",
    "progress", "predicted_at", "predicted_through",
)


@dataclass(frozen=True)
class SyncResult:
    """What an incremental rescan changed."""

    added: int
    changed: int
    missing: int
    returned: int
    total: int
    changed_ids: frozenset[int] = frozenset()  # images whose file changed: decode them again


@dataclass
class Counts:
    """Image counts for the status line and legend (missing images excluded)."""

    total: int = 0
    labeled: int = 0
    skipped: int = 0
    per_class: dict[int, int] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return self.total - self.labeled - self.skipped


@dataclass(frozen=True)
class ClassRow:
    id: int
    name: str
    hotkey: str | None
    position: int


class UndoConflict(Exception):
    """Undo would overwrite a later change by another annotator."""


@dataclass(frozen=True)
class UndoResult:
    image_id: int
    event_id: int
    before: ImageState  # the image's state just before the undo
    after: ImageState  # the state it restored


@dataclass(frozen=True)
class TrainingItem:
    image_id: int
    path: str
    class_id: int | None  # None for a set of classes (multi-label mode)
    classes: frozenset[int] = frozenset()  # the image's classes (one for a single label)

    @property
    def split_key(self) -> int:
        """What splits are stratified by: the class, or for a set its first class id (-1 for
        the empty set)."""
        if self.class_id is not None:
            return self.class_id
        return min(self.classes, default=-1)


def unit_hash(text: str) -> float:
    """A stable pseudo-random number in [0, 1) for a string."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64


def in_overlap(path: str, share: float) -> bool:
    """Whether an image belongs to the overlap share (meant for two annotators or more): a
    stable hash of its path under ``share``, the same in every process."""
    return share > 0 and unit_hash(f"overlap:{path}") < share


HOST = socket.gethostname()


@dataclass
class ClaimRequest:
    """Which images to lease next (``Store.claim``): ``candidates`` are ``(id, path)`` in
    queue order; up to ``want`` of them are leased, skipping those leased by someone else and
    those someone else changed after event ``since`` (events in ``mine``, this session's own,
    never count). Images in the ``overlap`` share are never leased (meant for several
    annotators); ``release`` is an image whose lease goes (the one just labeled)."""

    candidates: Iterable[tuple[int, str]]
    want: int
    since: int = 0
    mine: Container[int] = frozenset()
    overlap: float = 0.0
    ttl: float = 30.0
    release: int | None = None


@dataclass(frozen=True)
class ClaimResult:
    claimed: list[int]  # in queue order: ours to show (leased, or in the overlap share)
    taken: list[int]  # someone else has them (leased, or changed since): leave them out
    scanned: int  # candidates looked at


MAX_CLAIM_SCAN = 2000  # a key never looks further ahead than this for a free image


_NOT_REVIEW = "AND COALESCE(source, '') != 'review'"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0): check it is not one.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _decode_run(row: dict) -> dict:
    for key in ("config", "class_names", "progress"):
        if row.get(key):
            row[key] = json.loads(row[key])
    return row


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_annotator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


class Store:
    """One connection to a tui-label database.

    Args:
        path: The database file; its folder is created if needed.
        annotator: Name recorded with each event (default: the login name).

    Raises:
        UsageError: the file is not a tui-label database, cannot be opened, or was written by
            a newer tui-label.
    """

    def __init__(self, path: Path | str, *, annotator: str | None = None,
                 busy_timeout_ms: int | None = None, readonly: bool = False,
                 create: bool = True):
        self.path = Path(path)
        self.annotator = annotator or default_annotator()
        self.readonly = readonly
        self._create = create
        self._busy_ms = BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
        exists = self.path.exists()
        if not exists and (readonly or not create):
            raise UsageError(f"no database at {self.path}")
        if exists and not readonly and not os.access(self.path, os.W_OK):
            # Checked before SQLite opens it: opening would leave -wal and -shm files behind.
            raise StoreWriteError("readonly", f"the database {self.path} is read-only "
                                  "(no write permission)")
        conn = None
        try:
            if readonly:
                uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
                if (not os.access(self.path.parent, os.W_OK | os.X_OK)
                        and not Path(f"{self.path}-wal").exists()):
                    # A folder we cannot write: SQLite cannot make the -shm file a WAL
                    # database needs, even to read. No -wal there: nobody is writing it.
                    uri += "&immutable=1"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                       timeout=self._busy_ms / 1000)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None,
                                       timeout=self._busy_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
            # With WAL, NORMAL survives a killed process (the SSH drop case); it only risks the
            # last commits on a power cut, and keeps each label commit well under a millisecond.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.Error, OSError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.OperationalError) and write_error(exc).kind == "full":
                raise StoreWriteError("full", f"disk is full: cannot open {self.path}") from None
            raise UsageError(f"cannot open database {self.path}: {exc}") from None
        self.conn = conn
        self.db = Database(conn)
        try:
            self._migrate()
            # WAL only once the file is known to be ours: a foreign database stays untouched.
            if not readonly and conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            conn.close()
            raise write_error(exc) from None
        except BaseException:
            conn.close()
            raise

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        """``PRAGMA user_version``: how many of ``MIGRATIONS`` this file has had."""
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        """Check the schema version and apply the steps this file lacks.

        ``user_version`` is the source of truth; sqlite-utils' table of applied migrations is
        only consulted for a file that has none (a new file, or a foreign database).
        """
        try:
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise UsageError(
                    f"{self.path} was written by a newer tui-label (schema {version}, this one "
                    f"knows {SCHEMA_VERSION}); upgrade tui-label to open it")
            if version == SCHEMA_VERSION:
                return
            if version == 0 and not migrations.applied(self.db):
                tables = set(self.db.table_names())
                if tables:
                    raise UsageError(f"{self.path} is an SQLite database but not a tui-label one")
                if not self._create:  # an empty file: a command that only reads makes none
                    raise UsageError(f"no database at {self.path} (the file is empty): label "
                                     "some images first")
            if self.readonly:
                raise UsageError(f"{self.path} was written by an older tui-label: open it once "
                                 "with `tui-label label` to upgrade it")
            with self._write():
                # Another process may have migrated while we waited for the lock: re-read.
                version = self.schema_version()
                if version < SCHEMA_VERSION:
                    migrations.apply(self.db)
                    self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except StoreWriteError:
            raise
        except sqlite3.OperationalError as exc:
            raise write_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{self.path} is not a usable tui-label database: {exc}") from None

    @contextmanager
    def _write(self) -> Iterator[None]:
        """A short write transaction that takes the write lock up front (no upgrade deadlock).

        A failed write (disk full, lock timeout, read-only, I/O) is rolled back and raised as
        ``StoreWriteError``; other exceptions from the body are rolled back and re-raised.
        """
        if self.readonly:
            raise StoreWriteError("readonly", "the database was opened read-only")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise write_error(exc) from None
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite may have rolled back already (disk full does)
            if isinstance(exc, sqlite3.OperationalError):
                raise write_error(exc) from None
            raise

    def probe_write(self) -> None:
        """Take the write lock and let it go: raises ``StoreWriteError`` when a write could
        not happen now (locked past the busy timeout, read-only)."""
        with self._write():
            pass

    @contextmanager
    def busy_timeout(self, ms: int) -> Iterator[None]:
        """Wait at most ``ms`` for the write lock inside this block (e.g. best-effort writes)."""
        self.conn.execute(f"PRAGMA busy_timeout = {int(ms)}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")

    def close(self) -> None:
        self.conn.close()

    # -- images ---------------------------------------------------------------------------

    def sync_images(self, files: Iterable[ScannedFile]) -> SyncResult:
        """Bring the images table in line with a scan: add new files, reset changed ones,
        mark vanished ones missing (their labels stay) and bring back returning ones."""
        scanned = list(files)  # walk the disk before taking the write lock
        with self._write():
            existing = {
                row[0]: row[1:]
                for row in self.conn.execute("SELECT path, id, size, mtime, status FROM images")
            }
            new, changed, returned = [], [], []
            for f in scanned:
                old = existing.pop(f.path, None)
                if old is None:
                    new.append((f.path, f.size, f.mtime))
                elif old[1] != f.size or old[2] != f.mtime:
                    changed.append((f.size, f.mtime, old[0]))
                elif old[3] == "missing":
                    returned.append((old[0],))
            gone = [(row[0],) for row in existing.values() if row[3] != "missing"]
            self.conn.executemany(
                "INSERT INTO images (path, size, mtime) VALUES (?, ?, ?)", new
            )
            self.conn.executemany(
                "UPDATE images SET size = ?, mtime = ?, status = 'unknown', reason = NULL, "
                "width = NULL, height = NULL WHERE id = ?",
                changed,
            )
            self.conn.executemany("UPDATE images SET status = 'unknown' WHERE id = ?", returned)
            self.conn.executemany("UPDATE images SET status = 'missing' WHERE id = ?", gone)
        return SyncResult(len(new), len(changed), len(gone), len(returned), len(scanned),
                          frozenset(row[2] for row in changed))

    def image_count(self) -> int:
        sql = "SELECT COUNT(*) FROM images WHERE status != 'missing'"
        return self.conn.execute(sql).fetchone()[0]

    def image(self, image_id: int) -> dict:
        row = self.db.execute("SELECT * FROM images WHERE id = ?", [image_id])
        cols = [d[0] for d in row.description]
        values = row.fetchone()
        if values is None:
            raise KeyError(image_id)
        return dict(zip(cols, values, strict=True))

    def record_decodes(
        self, results: Sequence[tuple[int, int | None, int | None, str | None]]
    ) -> None:
        """Store what decoding found: ``(image_id, width, height, error)`` per image."""
        if not results:
            return
        with self._write():
            self.conn.executemany(
                "UPDATE images SET status = CASE WHEN :error IS NULL THEN 'ok' "
                "ELSE 'unreadable' END, width = :width, height = :height, reason = :error "
                "WHERE id = :id AND status != 'missing'",
                [{"id": i, "width": w, "height": h, "error": e} for i, w, h, e in results],
            )

    def queue_rows(self, overlap: float = 0.0) -> list[QueueRow]:
        """Every image that is not missing, with its current state, in path order.

        With an ``overlap`` share, an image of the share that fewer than two annotators
        labeled is shown with this annotator's own state (unlabeled until they label it
        themselves: nobody sees another's label there), unless a review settled it.
        """
        rows = self.conn.execute(
            "SELECT i.id, i.path, s.action, COALESCE(s.class_id, s.classes) FROM images i "
            "LEFT JOIN latest_events s ON s.image_id = i.id "
            "WHERE i.status != 'missing' ORDER BY i.path"
        ).fetchall()  # plain tuples in QueueRow's field order: a million build fast
        if overlap > 0:
            rows = self._with_own_state(rows, overlap)
        return rows

    def _with_own_state(self, rows: list, overlap: float) -> list:
        own = {r[0]: (r[1], r[2]) for r in self.conn.execute(
            "SELECT e.image_id, e.action, COALESCE(e.class_id, e.classes) FROM label_events e "
            f"JOIN ({self._OWN_LATEST.format(where='AND annotator = ?')}) last "
            "ON e.id = last.id", (self.annotator,))}
        labelers = dict(self.conn.execute(
            "SELECT e.image_id, COUNT(*) FROM label_events e "
            f"JOIN ({self._OWN_LATEST.format(where='AND annotator != ?')}) last "
            "ON e.id = last.id WHERE e.action = 'label' GROUP BY e.image_id",
            (self.annotator,)))
        reviewed = {r[0] for r in self.conn.execute(
            "SELECT DISTINCT image_id FROM label_events WHERE source = 'review'")}
        for n, row in enumerate(rows):
            image_id = row[0]
            if (image_id in reviewed or labelers.get(image_id, 0) >= 2
                    or not in_overlap(row[1], overlap)):
                continue
            action, class_id = own.get(image_id, (None, None))
            rows[n] = (image_id, row[1], action, class_id)
        return rows

    def disagreement_rows(self) -> list[QueueRow]:
        """The images annotators disagree on (see ``disagreements``), with their current
        state, in path order."""
        return self.conn.execute(
            "SELECT i.id, i.path, s.action, COALESCE(s.class_id, s.classes) FROM images i "
            "LEFT JOIN latest_events s ON s.image_id = i.id "
            f"WHERE i.status != 'missing' AND i.id IN ({self._DISAGREEMENTS}) "
            "ORDER BY i.path").fetchall()

    def queue(self, order: OrderChoice | str = "unlabeled",
              class_id: int | None = None, model=None, *,
              overlap: float = 0.0) -> list[QueueItem]:
        """The images to show, ranked by an order of the registry (``tui_label.core.orders``).

        Missing files are left out. ``order`` is a choice, or an order's name with
        ``class_id`` for the orders that need a class; ``model`` (``orders.ModelScores``) for
        the orders that need a model.
        """
        if isinstance(order, str):
            from tui_label.core import orders

            if order not in orders.ORDERS:
                raise UsageError(f"unknown order {order!r} (choose from {orders.usage()})")
            order = OrderChoice(order, class_id)
        if order.order.source == "disagreements":
            return order.rank(self.disagreement_rows(), model)
        return order.rank(self.queue_rows(overlap), model)

    # -- classes --------------------------------------------------------------------------

    def classes(self) -> list[ClassRow]:
        """All classes in their stable order; those with a hotkey first."""
        rows = self.conn.execute(
            "SELECT id, name, hotkey, position FROM classes ORDER BY hotkey IS NULL, position"
        )
        return [ClassRow(*row) for row in rows]

    def set_classes(self, specs: Sequence[ClassSpec]) -> list[ClassRow]:
        """Make ``specs`` the offered classes, in order. Classes not named keep their labels
        but lose their hotkey."""
        with self._write():
            self.conn.execute("UPDATE classes SET hotkey = NULL")
            for position, spec in enumerate(specs):
                self.conn.execute(
                    "INSERT INTO classes (name, hotkey, position) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET hotkey = excluded.hotkey, "
                    "position = excluded.position",
                    (spec.name, spec.key, position),
                )
            self.conn.execute(
                "UPDATE classes SET position = position + ? WHERE hotkey IS NULL AND position < ?",
                (len(specs), len(specs)),
            )
        return self.classes()

    # -- label events ---------------------------------------------------------------------

    def add_event(
        self,
        image_id: int,
        action: str,
        class_id: int | None = None,
        *,
        ms_on_screen: int | None = None,
        undo_of: int | None = None,
        source: str | None = None,
        probability: float | None = None,
        run_id: int | None = None,
        classes: Iterable[int] | None = None,
    ) -> int:
        """Append one event and commit it before returning; returns its id.

        ``source`` is None for a typed key, ``suggestion`` for an accepted suggestion (with the
        model's ``probability`` and ``run_id``), ``review`` for a confirmed suspect label.
        ``classes`` (multi-label mode) is the set of classes of a ``label`` event, which then
        has no ``class_id``; an empty set is a label too ("none of the classes").
        """
        with self._write():
            return self._insert_event(image_id, action, class_id, ms_on_screen=ms_on_screen,
                                      undo_of=undo_of, source=source, probability=probability,
                                      run_id=run_id, classes=classes)

    def _insert_event(self, image_id: int, action: str, class_id: int | None, *,
                      ms_on_screen: int | None = None, undo_of: int | None = None,
                      source: str | None = None, probability: float | None = None,
                      run_id: int | None = None, classes: Iterable[int] | None = None) -> int:
        if classes is not None and (action != "label" or class_id is not None):
            raise ValueError("a class set is a label event's, without class_id")
        cur = self.conn.execute(
            "INSERT INTO label_events (image_id, action, class_id, annotator, created_at, "
            "ms_on_screen, undo_of, source, probability, run_id, classes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (image_id, action, class_id, self.annotator, now_iso(), ms_on_screen, undo_of,
             source, probability, run_id, None if classes is None else classes_json(classes)),
        )
        return cur.lastrowid

    def label(self, image_id: int, class_id: int, ms_on_screen: int | None = None) -> int:
        return self.add_event(image_id, "label", class_id, ms_on_screen=ms_on_screen)

    def label_set(self, image_id: int, class_ids: Iterable[int],
                  ms_on_screen: int | None = None) -> int:
        """Label an image with a set of classes (multi-label mode)."""
        return self.add_event(image_id, "label", classes=class_ids, ms_on_screen=ms_on_screen)

    def skip(self, image_id: int, ms_on_screen: int | None = None) -> int:
        return self.add_event(image_id, "skip", ms_on_screen=ms_on_screen)

    def undo(self, event_id: int) -> UndoResult:
        """Append an event restoring the image's state from before ``event_id``."""
        with self._write():
            row = self.conn.execute(
                "SELECT image_id FROM label_events WHERE id = ?", (event_id,)
            ).fetchone()
            if row is None:
                raise KeyError(event_id)
            image_id = row[0]
            if self.conn.execute(
                "SELECT 1 FROM label_events WHERE image_id = ? AND id > ? AND annotator != ?",
                (image_id, event_id, self.annotator),
            ).fetchone():
                raise UndoConflict("someone else has labeled this image since: not undone")
            latest = self.current(image_id)
            restored = self.conn.execute(
                "SELECT action, class_id, classes FROM label_events WHERE image_id = ? "
                "AND id < ? ORDER BY id DESC LIMIT 1",
                (image_id, event_id),
            ).fetchone() or ("clear", None, None)
            cur = self.conn.execute(
                "INSERT INTO label_events (image_id, action, class_id, classes, annotator, "
                "created_at, undo_of) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (image_id, *restored, self.annotator, now_iso(), event_id),
            )
            return UndoResult(image_id, cur.lastrowid, latest, ImageState.of(*restored))

    def current(self, image_id: int) -> ImageState:
        """The image's state (``UNLABELED`` if it has no events)."""
        row = self.conn.execute(
            "SELECT action, class_id, classes FROM label_events WHERE image_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (image_id,),
        ).fetchone()
        return ImageState.of(*row) if row else UNLABELED

    def counts(self) -> Counts:
        counts = Counts(total=self.image_count())
        rows = self.conn.execute(
            "SELECT e.action, e.class_id, COUNT(*) FROM latest_events e "
            "JOIN images i ON i.id = e.image_id WHERE i.status != 'missing' "
            "GROUP BY e.action, e.class_id"
        )
        for action, class_id, n in rows:
            if action == "label":
                counts.labeled += n
                if class_id is not None:  # None: class sets, counted below
                    counts.per_class[class_id] = n
            elif action == "skip":
                counts.skipped += n
        # Multi-label: each class counts the images whose set holds it.
        for class_id, n in self.conn.execute(
                "SELECT j.value, COUNT(*) FROM latest_events e JOIN images i ON i.id = e.image_id "
                "JOIN json_each(e.classes) j WHERE e.classes IS NOT NULL "
                "AND i.status != 'missing' GROUP BY j.value"):
            counts.per_class[class_id] = counts.per_class.get(class_id, 0) + n
        return counts

    # -- multi-label mode ----------------------------------------------------------------

    @property
    def multi_label(self) -> bool:
        """Whether this database is labeled in multi-label mode (a set of classes per image)."""
        return self.get_setting("multi_label") == "1"

    def set_multi_label(self) -> None:
        """Switch this database to multi-label mode, for good: a single label already given
        reads as a set of one class."""
        self.set_setting("multi_label", "1")

    def has_class_sets(self) -> bool:
        """Whether any event carries a set of classes (a multi-label label, or its undo)."""
        return bool(self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM label_events WHERE classes IS NOT NULL)").fetchone()[0])

    # -- import (tui_label.dataio.importing) --------------------------------------------------------

    def label_states(self) -> list[tuple[int, str, str | None, int | None, str | None]]:
        """Every image, missing ones too, as ``(id, path, action, class_id, classes)`` of its
        latest event (``action`` None when it has none; ``classes`` a multi-label set's JSON)."""
        return self.conn.execute(
            "SELECT i.id, i.path, e.action, e.class_id, e.classes FROM images i "
            "LEFT JOIN latest_events e ON e.image_id = i.id").fetchall()

    def add_classes(self, names: Sequence[str], hotkeys: Iterable[str]) -> list[ClassRow]:
        """Append the classes ``names`` after the existing ones in one transaction, each with
        the next of ``hotkeys`` (none once they run out)."""
        keys = iter(hotkeys)
        with self._write():
            position = self.conn.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM classes").fetchone()[0]
            self.conn.executemany(
                "INSERT INTO classes (name, hotkey, position) VALUES (?, ?, ?)",
                [(name, next(keys, None), position + n) for n, name in enumerate(names)])
        wanted = set(names)
        return [row for row in self.classes() if row.name in wanted]

    def import_labels(self, rows: Sequence[tuple[int, int, str, str | None]],
                      decide, *, sets: bool = False) -> list[tuple[str, int | None]]:
        """Write imported labels in one transaction: all of them or, on any error, none.

        Each row is ``(image_id, class_id, annotator, created_at)`` (None: now), applied in
        order. ``decide(current, wanted)`` gets the image's current class (None unless its
        latest event is a label) as it is inside this transaction, and returns ``new``,
        ``changed``, ``unchanged`` or ``conflict``; ``new`` and ``changed`` append a ``label``
        event with ``source = 'import'``. Returns each row's ``(outcome, class before)``.
        With ``sets`` (multi-label), a row's class is a frozenset of class ids, written as the
        event's ``classes``, and the current class is a frozenset too (a single label ``c``
        reads as ``{c}``).
        """
        with self._write():
            ids = sorted({row[0] for row in rows})
            current: dict[int, int | None] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for image_id, action, class_id, classes in self.conn.execute(
                        "SELECT image_id, action, class_id, classes FROM label_events WHERE id "
                        f"IN (SELECT MAX(id) FROM label_events WHERE image_id IN ({marks}) "
                        "GROUP BY image_id)", chunk):
                    if action != "label":
                        current[image_id] = None
                    elif sets:
                        current[image_id] = ImageState.of(action, class_id, classes).classes
                    else:
                        current[image_id] = class_id
            results, events, now = [], [], now_iso()
            as_json: dict[frozenset[int], str] = {}  # a dataset has few distinct sets
            for image_id, class_id, annotator, created_at in rows:
                before = current.get(image_id)
                result = decide(before, class_id)
                results.append((result, before))
                if result in ("new", "changed"):
                    if sets and class_id not in as_json:
                        as_json[class_id] = classes_json(class_id)
                    wanted = (None, as_json[class_id]) if sets else (class_id, None)
                    events.append((image_id, *wanted, annotator, created_at or now))
                    current[image_id] = class_id
            self.conn.executemany(
                "INSERT INTO label_events (image_id, action, class_id, classes, annotator, "
                "created_at, source) VALUES (?, 'label', ?, ?, ?, ?, 'import')", events)
        return results

    # -- settings -------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self._write():
            self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- training data --------------------------------------------------------------------

    def training_items(self) -> list[TrainingItem]:
        """Labeled images that can be read (not missing, not known unreadable), by path. A
        multi-label event's item has no ``class_id``; every item has its ``classes``."""
        rows = self.conn.execute(
            "SELECT i.id, i.path, e.class_id, e.classes FROM latest_events e "
            "JOIN images i ON i.id = e.image_id "
            "WHERE e.action = 'label' AND i.status IN ('unknown', 'ok') ORDER BY i.path"
        )
        return [TrainingItem(image_id, path, class_id,
                             ImageState.of("label", class_id, classes).classes)
                for image_id, path, class_id, classes in rows]

    def readable_images(self, *, labeled_only: bool = False) -> list[tuple[int, str]]:
        """``(image id, path)`` of every image not known to be unreadable or missing (with
        ``labeled_only``, of those whose current state is a label), by id."""
        sql = "SELECT i.id, i.path FROM images i WHERE i.status IN ('unknown', 'ok') "
        if labeled_only:
            sql += ("AND EXISTS (SELECT 1 FROM latest_events e WHERE e.image_id = i.id "
                    "AND e.action = 'label') ")
        return self.conn.execute(sql + "ORDER BY i.id").fetchall()

    def assign_splits(self, items: Sequence[TrainingItem], val_fraction: float) -> dict[int, str]:
        """The train/validation split of ``items``, stable per image.

        An image keeps the split it got the first time. A new image goes to validation when the
        hash of its path falls under ``val_fraction``, so each class is split in proportion.
        Every class with two or more images gets at least one of each (a set of classes counts
        for its first class: ``TrainingItem.split_key``), and so does the whole of two or more.
        A class with a single image trains on it (nothing of it is validated).
        """
        with self._write():
            stored = dict(self.conn.execute("SELECT image_id, split FROM splits"))
            split: dict[int, str] = {}
            by_class: dict[int, list[TrainingItem]] = {}
            for item in items:
                split[item.image_id] = stored.get(item.image_id) or (
                    "val" if unit_hash(item.path) < val_fraction else "train")
                by_class.setdefault(item.split_key, []).append(item)
            for members in by_class.values():
                if len(members) == 1:
                    split[members[0].image_id] = "train"
            for members in [*by_class.values(), list(items)]:
                if len(members) < 2:
                    continue
                # Move an image that has no stored split first, so old ones keep theirs.
                ranked = sorted(members, key=lambda it: (it.image_id in stored,
                                                         unit_hash(it.path)))
                kinds = {split[it.image_id] for it in members}
                if kinds == {"train"}:
                    split[ranked[0].image_id] = "val"
                elif kinds == {"val"}:
                    split[ranked[0].image_id] = "train"
            self.conn.executemany(
                "INSERT INTO splits (image_id, split) VALUES (?, ?) "
                "ON CONFLICT (image_id) DO UPDATE SET split = excluded.split",
                [(k, v) for k, v in split.items() if stored.get(k) != v],
            )
        return split

    # -- export (read only; tui_label.dataio.export) ---------------------------------------------

    # Each annotator's own latest event per image, leaving out undo events and the events they
    # undid: an undo appends the state from before the undone event, which may be another
    # annotator's label, and must not count as the undoer's own.
    _OWN_LATEST = (
        "SELECT image_id, annotator, MAX(id) AS id FROM label_events "
        "WHERE undo_of IS NULL AND id NOT IN "
        "(SELECT undo_of FROM label_events WHERE undo_of IS NOT NULL) {where} "
        "GROUP BY image_id, annotator"
    )
    # A label's classes as a JSON list of ids (a single label c as [c]); NULL for a skip.
    _LABEL_SET = f"CASE WHEN e.action = 'label' THEN {CLASS_SET_SQL.format(e='e')} END"
    _EXPORT_COLUMNS = (
        "i.path, e.action, c.name AS class, e.annotator, e.created_at, "
        f"COALESCE(s.split, '') AS split, {_LABEL_SET} AS classes"
    )

    def export_rows(self, *, annotator: str | None = None) -> list[tuple]:
        """``(path, action, class, annotator, created_at, split, classes)`` by path: each
        image's current label or skip, or (with ``annotator``) that annotator's own latest one.
        ``split`` is ``''`` for an image without a stored split; ``classes`` is a label's set
        of class ids as JSON (a single label ``c`` as ``[c]``), None for a skip."""
        if annotator is None:
            source, params = "latest_events", ()
        else:
            source = f"({self._OWN_LATEST.format(where='AND annotator = ?')})"
            params = (annotator,)
        return self.conn.execute(
            f"SELECT {self._EXPORT_COLUMNS} FROM {source} last "
            "JOIN label_events e ON e.id = last.id JOIN images i ON i.id = e.image_id "
            "LEFT JOIN classes c ON c.id = e.class_id LEFT JOIN splits s ON s.image_id = i.id "
            "WHERE e.action != 'clear' ORDER BY i.path", params).fetchall()

    def agreed_rows(self) -> list[tuple]:
        """Images that two or more annotators labeled (their own latest event is a label; a
        review is no annotator's label, as in the statistics) with the same class, as
        ``(path, 'label', class, annotators, created_at, split)`` by path: ``annotators``
        joined by ``\\x1f`` (unordered), ``created_at`` the latest."""
        own = self._OWN_LATEST.format(where="AND source IS NOT 'review'")
        label_set = CLASS_SET_SQL.format(e="e")
        return self.conn.execute(
            "SELECT i.path, 'label', MAX(c.name), group_concat(e.annotator, char(31)), "
            f"MAX(e.created_at), COALESCE(s.split, ''), MAX({label_set}) "
            f"FROM ({own}) last "
            "JOIN label_events e ON e.id = last.id JOIN images i ON i.id = e.image_id "
            "LEFT JOIN classes c ON c.id = e.class_id LEFT JOIN splits s ON s.image_id = i.id "
            "WHERE e.action = 'label' GROUP BY e.image_id "
            f"HAVING COUNT(*) >= 2 AND COUNT(DISTINCT {label_set}) = 1 "
            "ORDER BY i.path").fetchall()

    def annotators(self) -> list[str]:
        """Every name that has written a label event, sorted."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT annotator FROM label_events ORDER BY annotator")]

    # -- runs -----------------------------------------------------------------------------

    def create_run(self, model: str, config: dict, class_names: list[str]) -> int:
        with self._write():
            cur = self.conn.execute(
                "INSERT INTO runs (created_at, status, model, config, class_names, pid, host) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (now_iso(), model, json.dumps(config), json.dumps(class_names), os.getpid(),
                 socket.gethostname()),
            )
            return cur.lastrowid

    def update_run(self, run_id: int, **fields) -> None:
        unknown = set(fields) - set(RUN_COLUMNS)
        if unknown:
            raise ValueError(f"unknown run fields {sorted(unknown)}")
        if fields.get("status") in ("finished", "failed", "cancelled"):
            fields.setdefault("finished_at", now_iso())
        for key in ("progress", "config", "class_names"):
            if key in fields and not isinstance(fields[key], str) and fields[key] is not None:
                fields[key] = json.dumps(fields[key])
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._write():
            self.conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?",
                              (*fields.values(), run_id))

    def reopen_run(self, run_id: int, *, status: str, pid: int | None, last_epoch: int) -> bool:
        """Take run ``run_id`` over for this process (``--resume``): it is running again,
        without a reason or end time, and its epochs after ``last_epoch`` (trained past the
        checkpoint it resumes from) are dropped. Only if its status and pid are still the
        ones given (read when it was checked): False when another process changed it since."""
        with self._write():
            cur = self.conn.execute(
                "UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL, "
                "progress = NULL, pid = ?, host = ? WHERE id = ? AND status = ? AND pid IS ?",
                (os.getpid(), socket.gethostname(), run_id, status, pid))
            if cur.rowcount != 1:
                return False
            self.conn.execute("DELETE FROM run_epochs WHERE run_id = ? AND epoch > ?",
                              (run_id, last_epoch))
            return True

    def add_epoch(self, run_id: int, epoch: int, *, train_loss: float, val_loss: float,
                  report: dict, seconds: float, images_per_sec: float) -> None:
        with self._write():
            self.conn.execute(
                "INSERT OR REPLACE INTO run_epochs (run_id, epoch, train_loss, val_loss, accuracy, "
                "macro_f1, report, seconds, images_per_sec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, epoch, train_loss, val_loss, report["accuracy"], report["macro_f1"],
                 json.dumps(report), seconds, images_per_sec),
            )

    def run(self, run_id: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        return _decode_run(rows[0]) if rows else None

    def latest_run(self) -> dict | None:
        rows = list(self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))
        return _decode_run(rows[0]) if rows else None

    def epochs(self, run_id: int) -> list[dict]:
        rows = self.db.query("SELECT * FROM run_epochs WHERE run_id = ? ORDER BY epoch", [run_id])
        return [{**r, "report": json.loads(r["report"]) if r["report"] else None} for r in rows]

    def reap_dead_runs(self) -> list[int]:
        """Mark runs of this host whose trainer process is gone (killed, out of memory) as
        failed. Returns their ids."""
        host = socket.gethostname()
        dead = [
            run_id
            for run_id, pid in self.conn.execute(
                "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (host,))
            if pid is None or not pid_alive(pid)
        ]
        for run_id in dead:
            self.update_run(run_id, status="failed",
                            reason="the trainer process ended without reporting "
                                   "(killed, or out of memory)")
        return dead

    def try_reap_dead_runs(self, wait_ms: int) -> list[int]:
        """``reap_dead_runs`` if the database can be written within ``wait_ms``; else nothing
        (locked, read-only or full now: a later call tries again). Best effort, on the way
        in or out of a command."""
        try:
            with self.busy_timeout(wait_ms):
                return self.reap_dead_runs()
        except StoreWriteError:
            return []

    def current_labels(self) -> list[dict]:
        """Every image's current label or skip, as ``{path, action, class, annotator, ...}``."""
        return list(self.db.query("SELECT * FROM current_labels ORDER BY path"))

    # -- a team on one database: leases, the overlap share, disagreements ------------------

    @property
    def holder(self) -> tuple[str, str, int]:
        """Who this process's leases belong to: ``(annotator, host, pid)``. Anyone else is
        "someone else", two windows of one person included: they split the work too."""
        return (self.annotator, HOST, os.getpid())

    def _lease_is_others(self, image_id: int, now: float) -> bool:
        row = self.conn.execute("SELECT annotator, host, pid, expires_at FROM leases "
                                "WHERE image_id = ?", (image_id,)).fetchone()
        if row is None or tuple(row[:3]) == self.holder or row[3] <= now:
            return False
        return not (row[1] == HOST and not pid_alive(row[2]))  # a dead pid holds nothing

    def _changed_by_others(self, image_id: int, path: str, req: ClaimRequest) -> bool:
        """Someone else touched the image after ``req.since`` (outside the overlap share), or
        (in it) a review settled it, this annotator labeled it in another window, or two
        others have labeled it."""
        newer = [r for r in self.conn.execute(
            "SELECT id, annotator, source FROM label_events WHERE image_id = ? AND id > ?",
            (image_id, req.since)) if r[0] not in req.mine]
        if not newer:
            return False
        if not in_overlap(path, req.overlap):
            return True
        if any(source == "review" or annotator == self.annotator
               for _, annotator, source in newer):
            return True
        others = self.conn.execute(
            "SELECT COUNT(*) FROM label_events e "
            f"JOIN ({self._OWN_LATEST.format(where='AND image_id = ? AND annotator != ?')}) l "
            "ON e.id = l.id WHERE e.action = 'label'", (image_id, self.annotator)).fetchone()[0]
        return others >= 2

    def _claim(self, req: ClaimRequest) -> ClaimResult:
        now = time.time()
        annotator, host, pid = self.holder
        if req.release is not None:
            self.conn.execute("DELETE FROM leases WHERE image_id = ? AND annotator = ? AND "
                              "host = ? AND pid = ?", (req.release, annotator, host, pid))
        claimed: list[int] = []
        taken: list[int] = []
        scanned = 0
        for image_id, path in req.candidates:
            if len(claimed) >= req.want or scanned >= MAX_CLAIM_SCAN:
                break
            scanned += 1
            shared = in_overlap(path, req.overlap)
            if (not shared and self._lease_is_others(image_id, now)) or \
                    self._changed_by_others(image_id, path, req):
                taken.append(image_id)
                continue
            if not shared:
                self.conn.execute(
                    "INSERT INTO leases (image_id, annotator, host, pid, expires_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET "
                    "annotator = excluded.annotator, host = excluded.host, pid = excluded.pid, "
                    "expires_at = excluded.expires_at",
                    (image_id, annotator, host, pid, now + req.ttl))
            claimed.append(image_id)
        return ClaimResult(claimed, taken, scanned)

    def claim(self, req: ClaimRequest) -> ClaimResult:
        """Lease the next free images of ``req.candidates`` to this process (one write)."""
        with self._write():
            return self._claim(req)

    def add_event_and_claim(self, image_id: int, action: str, class_id: int | None = None, *,
                            claim: ClaimRequest, **event) -> tuple[int, ClaimResult]:
        """``add_event`` and ``claim`` in one transaction: a key's label and the lease of the
        images it moves on to commit together (one write, as before leases)."""
        with self._write():
            event_id = self._insert_event(image_id, action, class_id, **event)
            return event_id, self._claim(claim)

    def renew_leases(self, image_ids: Sequence[int], ttl: float) -> list[int]:
        """Keep this process's leases on ``image_ids`` (those still free to it) for ``ttl``
        seconds more, and let go of its others. Returns the ids it holds now."""
        now = time.time()
        annotator, host, pid = self.holder
        held = []
        with self._write():
            mine = [r[0] for r in self.conn.execute(
                "SELECT image_id FROM leases WHERE annotator = ? AND host = ? AND pid = ?",
                (annotator, host, pid))]
            keep = set(image_ids)
            self.conn.executemany("DELETE FROM leases WHERE image_id = ?",
                                  [(i,) for i in mine if i not in keep])
            for image_id in image_ids:
                if self._lease_is_others(image_id, now):
                    continue
                self.conn.execute(
                    "INSERT INTO leases (image_id, annotator, host, pid, expires_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET "
                    "annotator = excluded.annotator, host = excluded.host, pid = excluded.pid, "
                    "expires_at = excluded.expires_at",
                    (image_id, annotator, host, pid, now + ttl))
                held.append(image_id)
        return held

    def release_leases(self) -> int:
        """Let go of every lease of this process (leaving the labeler). Returns how many."""
        with self._write():
            return self.conn.execute(
                "DELETE FROM leases WHERE annotator = ? AND host = ? AND pid = ?",
                self.holder).rowcount

    def leases(self) -> list[dict]:
        """Every lease row (expired ones too), by image id."""
        return list(self.db.query("SELECT * FROM leases ORDER BY image_id"))

    def own_state(self, image_id: int) -> ImageState:
        """The image as this annotator left it (their own latest event, undo events and the
        events they undid left out), or as a review settled it when that is newer: what an
        image of the overlap share shows, never another annotator's label."""
        row = self.conn.execute(
            "SELECT action, class_id, classes FROM label_events WHERE image_id = ? "
            "AND (annotator = ? OR source = 'review') AND undo_of IS NULL AND id NOT IN "
            "(SELECT undo_of FROM label_events WHERE image_id = ? AND undo_of IS NOT NULL) "
            "ORDER BY id DESC LIMIT 1", (image_id, self.annotator, image_id)).fetchone()
        return ImageState.of(*row) if row else UNLABELED

    # Images whose annotators' own latest labels (reviews left out) differ, unless a review
    # (not undone) is newer than all of them.
    _DISAGREEMENTS = (
        "SELECT e.image_id FROM label_events e "
        "JOIN (SELECT image_id, annotator, MAX(id) AS id FROM label_events "
        "WHERE undo_of IS NULL AND COALESCE(source, '') != 'review' AND id NOT IN "
        "(SELECT undo_of FROM label_events WHERE undo_of IS NOT NULL) "
        "GROUP BY image_id, annotator) own ON e.id = own.id "
        "WHERE e.action = 'label' GROUP BY e.image_id "
        f"HAVING COUNT(DISTINCT {CLASS_SET_SQL.format(e='e')}) >= 2 AND MAX(e.id) > COALESCE(("
        "SELECT MAX(r.id) FROM label_events r WHERE r.image_id = e.image_id "
        "AND r.source = 'review' AND r.id NOT IN "
        "(SELECT undo_of FROM label_events WHERE undo_of IS NOT NULL)), 0)"
    )

    def disagreement_count(self) -> int:
        """How many images annotators disagree on (not settled by a review since)."""
        return self.conn.execute(
            f"SELECT COUNT(*) FROM ({self._DISAGREEMENTS}) d "
            "JOIN images i ON i.id = d.image_id WHERE i.status != 'missing'").fetchone()[0]

    def opinions(self, image_id: int) -> list[tuple[str, frozenset[int]]]:
        """Each annotator's own latest label of an image (reviews left out), by annotator:
        ``(annotator, class ids)`` (one id in single-label mode)."""
        rows = self.conn.execute(
            "SELECT e.annotator, e.action, e.class_id, e.classes FROM label_events e "
            f"JOIN ({self._OWN_LATEST.format(where=_NOT_REVIEW + ' AND image_id = ?')}) l "
            "ON e.id = l.id WHERE e.action = 'label' ORDER BY e.annotator",
            (image_id,)).fetchall()
        return [(who, ImageState.of(*state).classes) for who, *state in rows]

    def counts_through(self) -> tuple[Counts, int]:
        """The counts and the newest event id they include, read in one snapshot (a labeler
        adds its own later changes on top: see ``LabelSession.take_counts``)."""
        self.conn.execute("BEGIN")
        try:
            return self.counts(), self.last_event_id()
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    # -- statistics (read only; tui_label.dataio.stats) ------------------------------------------

    def image_status_counts(self) -> dict[str, int]:
        """How many images have each status (``ok``, ``unknown``, ``unreadable``, ``missing``)."""
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM images GROUP BY status"))

    def stats_events(self) -> Iterator[tuple]:
        """Every label event in id order, as ``(id, image_id, action, class_id, annotator,
        created_at, ms_on_screen, undo_of, source, classes)`` (``tui_label.dataio.stats.Event``'s
        fields)."""
        return self.conn.execute(
            "SELECT id, image_id, action, class_id, annotator, created_at, ms_on_screen, "
            "undo_of, source, classes FROM label_events ORDER BY id")

    # -- predictions ----------------------------------------------------------------------

    def save_predictions(self, run_id: int, kind: str, rows: Sequence[dict]) -> None:
        """Replace a run's predictions of one kind (``model`` or ``oof``). Each row:
        ``image_id, class_id, probability, margin, entropy, top_k`` (a list of pairs)."""
        with self._write():
            self.conn.execute("DELETE FROM predictions WHERE run_id = ? AND kind = ?",
                              (run_id, kind))
            self.conn.executemany(
                "INSERT INTO predictions (run_id, image_id, kind, class_id, probability, margin, "
                "entropy, top_k) VALUES (:run_id, :image_id, :kind, :class_id, :probability, "
                ":margin, :entropy, :top_k)",
                [{**r, "run_id": run_id, "kind": kind, "top_k": json.dumps(r["top_k"])}
                 for r in rows],
            )
            if kind == "model":
                self.conn.execute(
                    "UPDATE runs SET predicted_at = ?, predicted_through = ? WHERE id = ?",
                    (now_iso(), self.last_event_id(), run_id))

    def predictions(self, run_id: int, kind: str = "model") -> dict[int, dict]:
        """A run's predictions by image id: ``class_id, probability, margin, entropy, top_k``."""
        rows = self.conn.execute(
            "SELECT image_id, class_id, probability, margin, entropy, top_k FROM predictions "
            "WHERE run_id = ? AND kind = ?", (run_id, kind))
        return {r[0]: {"class_id": r[1], "probability": r[2], "margin": r[3], "entropy": r[4],
                       "top_k": [tuple(p) for p in json.loads(r[5])]} for r in rows}

    def latest_predicted_run(self) -> dict | None:
        """The newest run whose predictions are stored, or None."""
        rows = list(self.db.query(
            "SELECT * FROM runs WHERE predicted_at IS NOT NULL ORDER BY id DESC LIMIT 1"))
        return _decode_run(rows[0]) if rows else None

    def last_event_id(self) -> int:
        """The newest label event's id (0 when none): a watermark for "labels since"."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM label_events").fetchone()[0]

    def labels_since(self, run: dict) -> int:
        """How many labels were written after ``run``'s predictions were stored: is its model
        stale? (Counted by event id, see ``m005_predicted_through``.)"""
        return self.conn.execute(
            "SELECT COUNT(*) FROM label_events WHERE action = 'label' AND id > ?",
            (run.get("predicted_through") or 0,)).fetchone()[0]

    def save_suspects(self, run_id: int, rows: Sequence[dict]) -> None:
        """Replace a run's ranked suspect labels. Each row: ``image_id, rank, given_class,
        predicted_class, probability, given_probability``."""
        with self._write():
            self.conn.execute("DELETE FROM suspects WHERE run_id = ?", (run_id,))
            self.conn.executemany(
                "INSERT INTO suspects (run_id, image_id, rank, given_class, predicted_class, "
                "probability, given_probability) VALUES (:run_id, :image_id, :rank, "
                ":given_class, :predicted_class, :probability, :given_probability)",
                [{**r, "run_id": run_id} for r in rows],
            )

    def suspects(self, run_id: int, *, open_only: bool = True) -> list[dict]:
        """A run's suspect labels, most doubtful first. ``open_only`` leaves out images whose
        label changed after the run's predictions, and those whose label stands as a review
        gave it (confirmed, or settled between annotators): a reviewed label is no suspect of
        later predictions either, until somebody changes it."""
        sql = (
            "SELECT s.image_id, i.path, s.rank, s.given_class, s.predicted_class, s.probability, "
            "s.given_probability FROM suspects s JOIN images i ON i.id = s.image_id "
            "JOIN runs r ON r.id = s.run_id WHERE s.run_id = ? AND i.status != 'missing' "
        )
        if open_only:
            sql += ("AND NOT EXISTS (SELECT 1 FROM label_events e WHERE e.image_id = s.image_id "
                    "AND e.id > COALESCE(r.predicted_through, 0)) "
                    "AND NOT EXISTS (SELECT 1 FROM latest_events l WHERE l.image_id = "
                    "s.image_id AND l.source = 'review') ")
        rows = self.db.query(sql + "ORDER BY s.rank", [run_id])
        return list(rows)

"""The store: schema, migrations, image sync, the label event log and derived state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.core.types import ImageState
from tui_label.errors import UsageError
from tui_label.media.scan import ScannedFile, scan
from tui_label.store import Store
from tui_label.store.migrations import SCHEMA_VERSION


def class_id(store: Store, name: str) -> int:
    return next(c.id for c in store.classes() if c.name == name)


def first_id(store: Store) -> int:
    return queue_of(store, "all")[0].id


def test_new_database_is_wal_with_schema_version(store: Store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_reopening_applies_no_migration_twice(tmp_path: Path):
    Store(tmp_path / "a.db").close()
    store = Store(tmp_path / "a.db")
    rows = store.conn.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0]
    assert rows == SCHEMA_VERSION


def test_database_from_newer_version_is_refused(tmp_path: Path):
    store = Store(tmp_path / "a.db")
    store.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store.close()
    with pytest.raises(UsageError, match="newer tui-label"):
        Store(tmp_path / "a.db")


def test_schema_version_is_read_and_old_files_are_upgraded(tmp_path: Path):
    """A file of schema 2 (before the latest_events view) is migrated on open, labels kept."""
    from tui_label.store.migrations import MIGRATIONS, migrations

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.isolation_level = None
    from sqlite_utils import Database

    old = Database(conn)
    migrations.apply(old, stop_before=MIGRATIONS[2].__name__)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO images (path, size, mtime) VALUES ('a.png', 1, 1)")
    conn.execute("INSERT INTO classes (name, hotkey, position) VALUES ('cat', '1', 0)")
    conn.execute("INSERT INTO label_events (image_id, action, class_id, annotator, created_at) "
                 "VALUES (1, 'label', 1, 'x', '2026')")
    conn.close()
    with pytest.raises(UsageError, match="older tui-label"):
        Store(db, readonly=True)  # read-only never migrates
    store = Store(db)
    assert store.schema_version() == SCHEMA_VERSION
    assert [(r["path"], r["class"]) for r in store.current_labels()] == [("a.png", "cat")]
    assert store.counts().labeled == 1


def test_non_database_file_is_refused(tmp_path: Path):
    path = tmp_path / "notes.db"
    path.write_text("hello, not sqlite " * 100)
    with pytest.raises(UsageError, match="not a database"):
        Store(path)


def test_foreign_sqlite_database_is_refused(tmp_path: Path):
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("CREATE TABLE stuff (x)")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match="not a tui-label one"):
        Store(tmp_path / "other.db")


def test_sync_adds_marks_missing_and_brings_back(tmp_path: Path):
    store = Store(tmp_path / "a.db")
    a, b = ScannedFile("a.png", 10, 1.0), ScannedFile("b.png", 20, 2.0)
    first = store.sync_images([a, b])
    assert (first.added, first.missing) == (2, 0)
    b_id = next(i.id for i in queue_of(store, "all") if i.path == "b.png")
    store.label(b_id, store.set_classes([ClassSpec("x", "1")])[0].id)
    gone = store.sync_images([a])
    assert gone.missing == 1
    assert [i.path for i in queue_of(store, "all")] == ["a.png"]
    assert store.image(b_id)["status"] == "missing"
    assert store.current(b_id).action == "label"  # labels kept
    back = store.sync_images([a, b])
    assert back.returned == 1
    assert [i.path for i in queue_of(store, "all")] == ["a.png", "b.png"]


def test_sync_resets_status_of_changed_files(tmp_path: Path):
    store = Store(tmp_path / "a.db")
    store.sync_images([ScannedFile("a.png", 10, 1.0)])
    image_id = first_id(store)
    store.record_decodes([(image_id, None, None, "not an image")])
    assert store.image(image_id)["status"] == "unreadable"
    result = store.sync_images([ScannedFile("a.png", 11, 5.0)])
    assert result.changed == 1
    assert store.image(image_id)["status"] == "unknown"


def test_label_is_committed_and_visible_to_another_connection(store: Store):
    image_id = first_id(store)
    store.label(image_id, class_id(store, "dog"), ms_on_screen=250)
    other = Store(store.path)
    assert other.current(image_id) == ImageState.of("label", class_id(store, "dog"))
    row = other.conn.execute("SELECT annotator, ms_on_screen FROM label_events").fetchone()
    assert row == ("tester", 250)
    other.close()


def test_event_log_is_append_only_and_latest_wins(store: Store):
    image_id = first_id(store)
    store.label(image_id, class_id(store, "cat"))
    store.label(image_id, class_id(store, "dog"))
    assert store.current(image_id) == ImageState.of("label", class_id(store, "dog"))
    assert store.conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == 2


def test_undo_appends_and_restores_previous_state(store: Store):
    image_id = first_id(store)
    store.label(image_id, class_id(store, "cat"))
    relabel = store.label(image_id, class_id(store, "dog"))
    undone = store.undo(relabel)
    assert undone.image_id == image_id
    assert undone.before == ImageState.of("label", class_id(store, "dog"))
    assert store.current(image_id) == ImageState.of("label", class_id(store, "cat"))
    assert store.conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == 3
    undo_of = store.conn.execute("SELECT undo_of FROM label_events ORDER BY id DESC").fetchone()
    assert undo_of == (relabel,)


def test_undo_of_first_label_clears(store: Store):
    image_id = first_id(store)
    event = store.skip(image_id)
    store.undo(event)
    assert store.current(image_id) == ImageState()
    assert store.counts().skipped == 0
    assert store.counts().remaining == store.counts().total


def test_counts_per_class_and_skips(store: Store):
    ids = [i.id for i in queue_of(store, "all")]
    store.label(ids[0], class_id(store, "cat"))
    store.label(ids[1], class_id(store, "cat"))
    store.label(ids[2], class_id(store, "dog"))
    store.skip(ids[3])
    counts = store.counts()
    assert (counts.total, counts.labeled, counts.skipped, counts.remaining) == (12, 3, 1, 8)
    assert counts.per_class == {class_id(store, "cat"): 2, class_id(store, "dog"): 1}


def test_queue_orders(store: Store):
    items = queue_of(store, "all")
    store.label(items[0].id, class_id(store, "cat"))
    store.skip(items[1].id)
    unlabeled = queue_of(store, "unlabeled")
    assert [i.id for i in unlabeled[:10]] == [i.id for i in items[2:]]
    assert [i.id for i in unlabeled[-2:]] == [items[1].id, items[0].id]  # skipped, then labeled
    assert [i.id for i in queue_of(store, "skipped")] == [items[1].id]
    assert [i.id for i in queue_of(store, "class", class_id(store, "cat"))] == [items[0].id]
    with pytest.raises(UsageError):
        queue_of(store, "sideways")


def test_set_classes_keeps_labels_of_dropped_class(store: Store):
    image_id = first_id(store)
    bird = class_id(store, "bird")
    store.label(image_id, bird)
    rows = store.set_classes([ClassSpec("dog", "1"), ClassSpec("cat", "2"), ClassSpec("fox", "4")])
    offered = [(r.name, r.hotkey) for r in rows if r.hotkey]
    assert offered == [("dog", "1"), ("cat", "2"), ("fox", "4")]
    assert [r.name for r in rows if r.hotkey is None] == ["bird"]
    assert store.current(image_id) == ImageState.of("label", bird)


def test_export_view_lists_current_labels(store: Store):
    ids = [i.id for i in queue_of(store, "all")]
    store.label(ids[0], class_id(store, "cat"))
    store.skip(ids[1])
    ev = store.label(ids[2], class_id(store, "dog"))
    store.undo(ev)
    rows = store.current_labels()
    assert [(r["path"], r["action"], r["class"]) for r in rows] == [
        ("img000.png", "label", "cat"),
        ("img001.png", "skip", None),
    ]


def test_unreadable_status_is_recorded(store: Store, dataset: Path):
    image_id = first_id(store)
    store.record_decodes([(image_id, None, None, "image file is truncated")])
    row = store.image(image_id)
    assert (row["status"], row["reason"]) == ("unreadable", "image file is truncated")


def test_scan_then_sync_roundtrip(tmp_path: Path, dataset: Path):
    store = Store(tmp_path / "b.db")
    result = store.sync_images(scan(dataset))
    assert result.added == 12 and store.image_count() == 12
    again = store.sync_images(scan(dataset))
    assert (again.added, again.changed, again.missing) == (0, 0, 0)


def test_foreign_database_is_left_untouched(tmp_path: Path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE stuff (x)")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert not (tmp_path / "other.db-wal").exists()


def test_undo_never_overwrites_another_annotators_later_label(store: Store):
    from tui_label.store import UndoConflict

    image_id = first_id(store)
    mine = store.label(image_id, class_id(store, "cat"))
    other = Store(store.path, annotator="someone-else")
    other.label(image_id, class_id(store, "dog"))
    other.close()
    with pytest.raises(UndoConflict):
        store.undo(mine)
    assert store.current(image_id) == ImageState.of("label", class_id(store, "dog"))


# -- failed writes are reported, never half-applied ------------------------------------------


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's long write transaction."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_write_past_the_busy_timeout_is_a_locked_error_and_writes_nothing(store: Store):
    from tui_label.store import StoreWriteError

    image_id = first_id(store)
    other = hold_write_lock(store.path)
    try:
        with store.busy_timeout(50), pytest.raises(StoreWriteError) as info:
            store.label(image_id, class_id(store, "cat"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert info.value.kind == "locked"
    assert str(info.value) == "the database is locked by another process"
    assert not store.conn.in_transaction
    assert store.current(image_id) == ImageState()
    store.label(image_id, class_id(store, "cat"))  # the lock is free again: it works
    assert store.current(image_id).class_id == class_id(store, "cat")


def test_busy_timeout_is_restored_after_the_block(store: Store):
    before = store.conn.execute("PRAGMA busy_timeout").fetchone()[0]
    with store.busy_timeout(10):
        assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == before


def test_full_disk_is_a_full_error_and_earlier_labels_survive(store: Store):
    from tui_label.store import StoreWriteError

    ids = [i.id for i in queue_of(store, "all")]
    cat = class_id(store, "cat")
    store.label(ids[0], cat)
    # SQLite's page limit gives the same SQLITE_FULL as a full file system.
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreWriteError) as info:
        store.set_setting("big", "x" * 100_000)  # needs pages the "disk" no longer has
    assert info.value.kind == "full"
    assert str(info.value) == "disk is full"
    assert not store.conn.in_transaction
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    assert store.current(ids[0]) == ImageState.of("label", cat)


def test_read_only_store_refuses_writes_and_creates_nothing(tmp_path: Path, store: Store):
    from tui_label.store import StoreWriteError

    with pytest.raises(UsageError, match="no database"):
        Store(tmp_path / "nope" / "x.db", readonly=True)
    with pytest.raises(UsageError, match="no database"):
        Store(tmp_path / "nope" / "x.db", create=False)
    assert not (tmp_path / "nope").exists()
    ro = Store(store.path, readonly=True)
    assert [c.name for c in ro.classes()] == ["cat", "dog", "bird"]
    with pytest.raises(StoreWriteError) as info:
        ro.set_setting("a", "b")
    assert info.value.kind == "readonly"
    ro.close()


def test_sqlite_errors_map_to_one_line_messages():
    from tui_label.store.errors import write_error

    cases = {
        "database or disk is full": ("full", "disk is full"),
        "database is locked": ("locked", "the database is locked by another process"),
        "attempt to write a readonly database": ("readonly", "the database is read-only"),
    }
    for text, (kind, message) in cases.items():
        err = write_error(sqlite3.OperationalError(text))
        assert (err.kind, str(err)) == (kind, message)
    err = write_error(sqlite3.OperationalError("disk I/O error"))
    assert err.kind == "io" and "disk I/O error" in str(err)


def test_record_decodes_binds_named_parameters(store: Store):
    """Numbered placeholders bound to a sequence warn on 3.12 and fail on 3.14."""
    import warnings

    image_id = first_id(store)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.record_decodes([(image_id, 32, 24, None)])
    row = store.image(image_id)
    assert (row["status"], row["width"], row["height"]) == ("ok", 32, 24)


def test_a_full_disk_while_opening_is_a_full_error():
    from tui_label.store.errors import write_error

    exc = sqlite3.OperationalError("disk I/O error")
    exc.sqlite_errorcode = 10 | (19 << 8)  # SQLITE_IOERR_SHMSIZE
    err = write_error(exc)
    assert (err.kind, str(err)) == ("full", "disk is full")


def test_bad_busy_timeout_variable_is_one_line(monkeypatch):
    from tui_label.store import _busy_timeout_from_env

    monkeypatch.setenv("TUI_LABEL_BUSY_TIMEOUT_MS", "soon")
    with pytest.raises(UsageError, match="whole number of milliseconds"):
        _busy_timeout_from_env()
    monkeypatch.setenv("TUI_LABEL_BUSY_TIMEOUT_MS", "250")
    assert _busy_timeout_from_env() == 250

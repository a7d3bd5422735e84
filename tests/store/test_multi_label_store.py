"""Multi-label mode in the store: class sets as events, undone, counted, migrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.helpers.queue import queue_of
from tui_label.core.types import ImageState
from tui_label.store import Store
from tui_label.store.migrations import MIGRATIONS, SCHEMA_VERSION, migrations


def ids(store: Store) -> dict[str, int]:
    return {c.name: c.id for c in store.classes()}


def images(store: Store) -> list[int]:
    return [it.id for it in queue_of(store, "all")]


def test_a_class_set_is_one_event_and_reads_back_as_the_state(store: Store):
    c = ids(store)
    first = images(store)[0]
    event = store.label_set(first, [c["dog"], c["cat"]], ms_on_screen=120)
    assert store.current(first) == ImageState("label", frozenset({c["cat"], c["dog"]}))
    row = store.conn.execute("SELECT action, class_id, classes FROM label_events WHERE id = ?",
                             (event,)).fetchone()
    assert row == ("label", None, f"[{min(c['cat'], c['dog'])},{max(c['cat'], c['dog'])}]")


def test_an_empty_set_is_a_label_of_no_class(store: Store):
    first = images(store)[0]
    store.label_set(first, [])
    state = store.current(first)
    assert state.labeled and state.classes == frozenset()
    assert store.counts().labeled == 1 and store.counts().per_class == {}


def test_undo_restores_the_previous_set(store: Store):
    c = ids(store)
    first = images(store)[0]
    one = store.label_set(first, [c["cat"]])
    second = store.label_set(first, [c["cat"], c["bird"]])
    undone = store.undo(second)
    assert undone.before.classes == {c["cat"], c["bird"]}
    assert undone.after == ImageState("label", frozenset({c["cat"]}))
    assert store.current(first) == ImageState("label", frozenset({c["cat"]}))
    store.undo(one)  # the first set: back to no label at all
    assert not store.current(first).labeled


def test_counts_count_each_class_of_a_set_and_each_image_once(store: Store):
    c = ids(store)
    a, b, d = images(store)[:3]
    store.label_set(a, [c["cat"], c["dog"]])
    store.label_set(b, [c["dog"]])
    store.label(d, c["bird"])  # a single label given before the switch: a set of one
    counts = store.counts()
    assert counts.labeled == 3
    assert counts.per_class == {c["cat"]: 1, c["dog"]: 2, c["bird"]: 1}


def test_the_mode_is_remembered_by_the_database(tmp_path: Path, store: Store):
    assert not store.multi_label
    store.set_multi_label()
    again = Store(store.path)
    assert again.multi_label
    again.close()


def test_sets_must_not_be_mixed_with_a_class_id(store: Store):
    first = images(store)[0]
    with pytest.raises(ValueError):
        store.add_event(first, "label", 1, classes=[1])
    with pytest.raises(ValueError):
        store.add_event(first, "skip", classes=[1])
    assert store.last_event_id() == 0


def test_disagreement_on_sets_is_found_and_equal_sets_agree(store: Store):
    c = ids(store)
    a, b = images(store)[:2]
    alice = Store(store.path, annotator="alice")
    bob = Store(store.path, annotator="bob")
    alice.label_set(a, [c["cat"], c["dog"]])
    bob.label_set(a, [c["dog"], c["cat"]])  # the same set, in another order
    alice.label_set(b, [c["cat"]])
    bob.label(b, c["cat"])  # a single label equals the set of that one class
    assert store.disagreement_count() == 0
    bob.label_set(b, [c["cat"], c["bird"]])
    assert store.disagreement_count() == 1
    assert store.opinions(b) == [("alice", frozenset({c["cat"]})),
                                 ("bob", frozenset({c["cat"], c["bird"]}))]


def test_a_schema_6_database_is_rebuilt_with_its_events_and_undo_links(tmp_path: Path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.isolation_level = None
    migrations.apply(Database(conn), stop_before=MIGRATIONS[6].__name__)
    conn.execute("PRAGMA user_version = 6")
    conn.execute("INSERT INTO images (path, size, mtime) VALUES ('a.png', 1, 1)")
    conn.execute("INSERT INTO classes (name, hotkey, position) VALUES ('cat', '1', 0)")
    conn.execute("INSERT INTO label_events (image_id, action, class_id, annotator, created_at) "
                 "VALUES (1, 'label', 1, 'x', '2026-01-01T00:00:00Z')")
    conn.execute("INSERT INTO label_events (image_id, action, class_id, annotator, created_at, "
                 "undo_of) VALUES (1, 'clear', NULL, 'x', '2026-01-01T00:00:01Z', 1)")
    conn.execute("INSERT INTO label_events (image_id, action, class_id, annotator, created_at, "
                 "source) VALUES (1, 'label', 1, 'y', '2026-01-01T00:00:02Z', 'import')")
    conn.close()
    store = Store(db)
    assert store.schema_version() == SCHEMA_VERSION
    rows = store.conn.execute("SELECT id, action, class_id, undo_of, source, classes "
                              "FROM label_events ORDER BY id").fetchall()
    assert rows == [(1, "label", 1, None, None, None), (2, "clear", None, 1, None, None),
                    (3, "label", 1, None, "import", None)]
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert [(r["path"], r["class"]) for r in store.current_labels()] == [("a.png", "cat")]
    # The rebuilt table still refuses a label with neither a class nor a set.
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO label_events (image_id, action, annotator, created_at) "
                           "VALUES (1, 'label', 'x', 'now')")
    store.close()


def test_current_labels_view_joins_a_sets_names(store: Store):
    c = ids(store)
    first = images(store)[0]
    store.label_set(first, [c["bird"], c["cat"]])
    assert [r["class"] for r in store.current_labels()] == ["cat;bird"]  # legend order


def test_the_order_of_one_class_finds_the_sets_that_hold_it(store: Store):
    c = ids(store)
    a, b, d = images(store)[:3]
    store.label_set(a, [c["cat"], c["dog"]])
    store.label_set(b, [c["dog"]])
    store.label(d, c["cat"])
    assert [it.id for it in queue_of(store, "class", c["cat"])] == [a, d]
    assert [it.id for it in queue_of(store, "class", c["dog"])] == [a, b]

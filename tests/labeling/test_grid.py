"""The grid review without a screen: pages from an order, cells toggled out, one key labels a
page, one undo takes it back, nothing labeled before it is drawn, leases between annotators."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.queue import queue_of
from tui_label.labeling.grid import GridSession, cell_keys, grid_shape
from tui_label.store import Store, UndoConflict


def grid(store: Store, per_page: int = 4, **kw) -> GridSession:
    return GridSession(store, queue_of(store), per_page, store.classes(), **kw)


def states(store: Store) -> dict[str, tuple[str | None, int | None]]:
    return {path: (action, class_id) for _, path, action, class_id, _ in store.label_states()}


def test_shapes_follow_the_terminal():
    assert grid_shape(80, 24) == (4, 3)
    assert grid_shape(160, 48) == (6, 4)
    cols, rows = grid_shape(160, 48, pixels=True)
    assert cols * rows > 6 * 4
    assert grid_shape(30, 8) == (2, 1)


def test_a_page_never_has_more_cells_than_keys(store: Store):
    """Kitty in a big window gave 9x7 pages with 23 keys: 40 cells had none."""
    keys = cell_keys(store.classes())
    assert "L" not in keys and keys[:3] == ["q", "w", "e"] and "Q" in keys
    assert len(keys) == len(set(keys)) == 2 * 25 - 2  # both rows (no z: zoom) less u and L
    cols, rows = grid_shape(170, 50, pixels=True, keys=len(keys))
    assert cols * rows <= len(keys) and cols * rows >= 30
    assert grid_shape(170, 50, pixels=True, keys=10) == (10, 1)
    assert grid_shape(80, 24, keys=len(keys)) == (4, 3)  # room to spare: as before


def test_enter_labels_the_cells_still_in_as_one_step_and_undo_takes_it_back(store: Store):
    cat = store.classes()[0].id
    g = grid(store, page_class=cat)
    first = [c.item.path for c in g.page.cells]
    assert [c.key for c in g.page.cells] == ["q", "w", "e", "r"]
    g.mark_drawn(0)
    assert g.toggle(1).notice is None and g.page.cells[1].out
    done = g.commit()
    assert done.moved and len(done.labeled) == 3 and g.page.number == 1
    after = states(store)
    assert [after[p] for p in first] == [("label", cat), (None, None), ("label", cat),
                                         ("label", cat)]
    sources = {r[0] for r in store.conn.execute(
        "SELECT DISTINCT source FROM label_events WHERE action = 'label'")}
    assert sources == {"grid"}
    assert g.undo().undone == done.labeled  # the three at once
    assert all(states(store)[p][0] in (None, "clear") for p in first)
    assert g.undo().notice == "Nothing to undo in this grid."


def test_nothing_is_labeled_before_its_page_is_drawn(store: Store):
    g = grid(store, page_class=store.classes()[0].id)
    assert g.commit().notice == "The page is not on screen yet: key ignored."
    assert g.toggle(0).notice and not g.page.cells[0].out
    g.mark_drawn(0)
    g.commit()  # page 1 is shown now, not drawn yet
    assert g.commit().notice and g.page.number == 1
    g.mark_drawn(1)
    assert g.commit(page=0).notice  # a key meant for the page before
    assert sum(1 for s in states(store).values() if s[0] == "label") == 4


def test_a_class_key_on_a_cell_labels_it_alone_and_enter_leaves_it(store: Store):
    cat, dog = store.classes()[0].id, store.classes()[1].id
    g = grid(store, page_class=cat)
    g.mark_drawn(0)
    target = g.page.cells[2].item.path
    assert g.label_cell(2, dog).labeled
    g.commit()
    labels = states(store)
    assert labels[target] == ("label", dog)
    assert sum(1 for s in labels.values() if s == ("label", cat)) == 3


def test_a_page_without_a_class_refuses_enter_and_a_suggested_one_takes_the_majority(
        store: Store):
    cat, dog = store.classes()[0].id, store.classes()[1].id
    g = grid(store)
    g.mark_drawn(0)
    assert "no class" in g.commit().notice
    votes = {}
    for n, item in enumerate(queue_of(store)):
        votes[item.id] = [(dog if n % 4 else cat, 0.9)]
    g = grid(store, suggest=lambda image_id: votes[image_id])
    assert g.page.class_id == dog and g.page.cells[0].suggestion == (cat, 0.9)
    # A mixed page: enter must not label the cat as a dog, so it starts out.
    assert [c.out for c in g.page.cells] == [True, False, False, False]
    g.mark_drawn(0)
    assert len(g.commit().labeled) == 3
    assert sum(1 for s in states(store).values() if s == ("label", dog)) == 3
    assert not any(s == ("label", cat) for s in states(store).values())


def test_pages_move_on_and_back_and_end(store: Store):
    g = grid(store, per_page=5)
    pages = []
    while not g.finished:
        pages.append([c.item.id for c in g.page.cells])
        g.next_page()
    assert [len(p) for p in pages] == [5, 5, 2] and g.next_page().notice
    g.previous_page()
    assert [c.item.id for c in g.page.cells] == pages[2]
    g.previous_page()
    g.previous_page()
    assert [c.item.id for c in g.page.cells] == pages[0]
    assert g.previous_page().notice == "This is the first page."


def test_class_keys_and_the_grid_keys_are_never_cell_keys(tmp_path: Path, store: Store):
    g = grid(store, per_page=12)
    keys = [c.key for c in g.page.cells]
    assert len(set(keys)) == 12 and not {"u", "z", "1", "2", "3"} & set(keys)


def test_two_annotators_never_get_the_same_page(tmp_path: Path, store: Store):
    other = Store(store.path, annotator="other")
    try:
        mine = grid(store)
        theirs = GridSession(other, queue_of(other), 4, other.classes())
        a = {c.item.id for c in mine.page.cells}
        b = {c.item.id for c in theirs.page.cells}
        assert len(a) == len(b) == 4 and not a & b
    finally:
        other.close()


def test_a_batch_that_cannot_be_undone_whole_is_not_undone_at_all(store: Store):
    cat = store.classes()[0].id
    ids = [i.id for i in queue_of(store)[:3]]
    events = store.label_batch([(i, cat) for i in ids])
    other = Store(store.path, annotator="other")
    try:
        other.label(ids[1], store.classes()[1].id)
    finally:
        other.close()
    before = store.last_event_id()
    with pytest.raises(UndoConflict, match="someone else has labeled"):
        store.undo_batch(events)
    assert store.last_event_id() == before  # nothing of it was written

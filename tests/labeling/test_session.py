"""The labeling session without Textual: queue, position, counts, undo, orders, failed writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tui_label.core.orders import OrderChoice
from tui_label.core.types import ImageState
from tui_label.labeling.session import LabelSession
from tui_label.media.decode_log import DecodeLog
from tui_label.media.scan import scan
from tui_label.store import Store, StoreWriteError


def cls(session: LabelSession, name: str) -> int:
    return next(c.id for c in session.classes if c.name == name)


@pytest.fixture
def session(store: Store) -> LabelSession:
    s = LabelSession(store)
    s.load()
    return s


def test_label_commits_and_advances(session: LabelSession, store: Store):
    first = session.current
    change = session.label(cls(session, "cat"), ms_on_screen=120)
    assert change.moved and change.image_id == first.id
    assert change.before == ImageState() and change.after == ImageState.of("label", 1)
    assert session.pos == 1
    assert store.current(first.id) == ImageState.of("label", cls(session, "cat"))
    assert session.counts.labeled == 1 and session.counts.per_class == {1: 1}


def test_skip_then_undo_returns_to_the_image_and_restores_counts(session: LabelSession,
                                                                  store: Store):
    first = session.current
    session.skip()
    session.label(cls(session, "dog"))
    assert (session.counts.skipped, session.counts.labeled) == (1, 1)
    session.undo()
    assert session.current.id != first.id and session.counts.labeled == 0
    change = session.undo()
    assert change.moved and session.current.id == first.id and session.pos == 0
    assert session.counts.skipped == 0
    assert store.current(first.id) == ImageState()
    assert session.undo().notice == "Nothing to undo in this session."


def test_relabel_moves_the_count_between_classes(session: LabelSession, store: Store):
    session.label(cls(session, "cat"))
    session.move(-1)
    session.label(cls(session, "dog"))
    assert session.counts.per_class == {cls(session, "dog"): 1}
    assert session.counts == store.counts()


def test_move_stays_inside_the_queue(session: LabelSession):
    assert not session.move(-1).moved and session.pos == 0
    for _ in range(len(session.queue) + 5):
        session.move(1)
    assert session.pos == len(session.queue) and session.current is None
    assert "End of this view" in session.end_message()


def test_undo_of_an_image_outside_the_view_shows_it_here(session: LabelSession):
    first = session.current
    session.label(cls(session, "cat"))
    session.set_order(OrderChoice("skipped"))
    assert session.queue == []
    session.undo()
    assert session.current.id == first.id


def test_set_order_ranks_by_the_registry(session: LabelSession):
    session.skip()
    session.label(cls(session, "bird"))
    session.set_order(OrderChoice("class", cls(session, "bird")))
    assert [i.path for i in session.queue] == ["img001.png"]
    assert session.describe_order() == "Labeled as bird"
    session.set_order(OrderChoice("unlabeled"))
    assert [i.path for i in session.queue][-2:] == ["img000.png", "img001.png"]


def test_background_counts_add_this_sessions_later_changes(session: LabelSession,
                                                           store: Store):
    """Counts read in the background before a key (another labeler's work in them) get this
    session's later labels added: fast keys never freeze them, and nothing counts twice."""
    read_early, through = store.counts_through()
    session.label(cls(session, "cat"))
    bob = Store(store.path, annotator="bob")
    bob.label(session.queue[-1].id, cls(session, "dog"))
    assert session.take_counts(read_early, through)
    assert session.counts.labeled == 1  # our label, added on top of the early read
    assert session.take_counts(*bob.counts_through())
    assert session.counts.labeled == 2 and session.counts.per_class == {1: 1, 2: 1}
    bob.close()
    assert not session.take_counts(read_early, through)  # older than what was taken
    assert session.counts.labeled == 2


def test_locked_database_leaves_the_session_where_it_was(session: LabelSession, store: Store):
    session.lock_wait_ms = 20
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    before = (session.pos, list(session.undo_stack), session.counts.labeled)
    try:
        with pytest.raises(StoreWriteError) as info:
            session.label(cls(session, "cat"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert info.value.kind == "locked"
    assert (session.pos, session.undo_stack, session.counts.labeled) == before
    session.label(cls(session, "cat"))  # free again
    assert session.counts.labeled == 1


def test_rescan_keeps_the_current_image_and_forgets_changed_decodes(
        tmp_path: Path, session: LabelSession, store: Store, dataset: Path):
    session.move(2)
    current = session.current
    decodes = DecodeLog()  # the prefetcher's, in the labeler
    decodes.note(current.id, 32, 24, None)
    decodes.flush(session.record_decodes)
    (dataset / "aaa_new.png").write_bytes((dataset / "img000.png").read_bytes())
    path = dataset / current.path
    path.write_bytes(b"now broken")
    result = store.sync_images(scan(dataset))
    assert result.changed_ids == {current.id}
    decodes.forget(result.changed_ids)  # what the screen does with a rescan's changed files
    change = session.refresh(result)
    assert change.moved  # its file changed: it must be drawn again
    assert session.current.id == current.id
    assert session.counts.total == 13
    decodes.note(current.id, None, None, "not an image Pillow can read")
    decodes.flush(session.record_decodes)
    assert store.image(current.id)["status"] == "unreadable"


def test_failed_decode_flush_is_kept_for_the_next_try(session: LabelSession, store: Store):
    session.lock_wait_ms = 20
    image_id = session.current.id
    decodes = DecodeLog()
    decodes.note(image_id, 32, 24, None)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreWriteError):
            decodes.flush(session.record_decodes)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert len(decodes) == 1
    decodes.flush(session.record_decodes)
    assert len(decodes) == 0
    assert store.image(image_id)["status"] == "ok"


def test_state_text_is_plain(session: LabelSession, store: Store):
    assert session.state_text(ImageState()) == "unlabeled"
    assert session.state_text(ImageState.of("skip")) == "skipped"
    assert session.state_text(ImageState.of("label", cls(session, "dog"))) == "→ dog"

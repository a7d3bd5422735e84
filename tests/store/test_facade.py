"""The store's facade: a context manager that closes its connection, and the reads that keep
SQL out of the rest of the program (rows an order ranks, ids by path, the finished run)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.core.orders import OrderChoice
from tui_label.media.scan import ScannedFile
from tui_label.store import Store


def _closed(store: Store) -> bool:
    try:
        store.conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_with_closes_the_connection(tmp_path: Path):
    with Store(tmp_path / "a.db") as store:
        assert store.image_count() == 0
        assert not _closed(store)
    assert _closed(store)


def test_with_closes_the_connection_on_an_exception_and_lets_it_through(tmp_path: Path):
    with pytest.raises(KeyError), Store(tmp_path / "a.db") as store:
        store.image(42)  # no such image
    assert _closed(store)
    with Store(tmp_path / "a.db") as again:  # nothing was left open or locked
        again.probe_write()


def test_rows_for_hands_every_image_or_the_disagreements(store: Store):
    a, b = (r[0] for r in store.queue_rows()[:2])
    assert store.rows_for("all") == store.queue_rows()
    assert store.rows_for("disagreements") == []
    cat, dog = (c.id for c in store.classes()[:2])
    store.label(a, cat)
    with Store(store.path, annotator="other") as other:
        other.label(a, dog)
    assert [r[0] for r in store.rows_for("disagreements")] == [a]
    assert b not in [it.id for it in queue_of(store, "disagreements")]
    ranked = OrderChoice("all").rank(store.rows_for("all"))
    assert [it.id for it in ranked] == [r[0] for r in store.queue_rows()]


def test_image_ids_are_by_path_missing_ones_too(tmp_path: Path):
    with Store(tmp_path / "a.db") as store:
        store.sync_images([ScannedFile("a.png", 1, 1.0), ScannedFile("b.png", 1, 1.0)])
        ids = store.image_ids()
        store.sync_images([ScannedFile("a.png", 1, 1.0)])  # b.png is gone: missing
        assert store.image_ids() == ids and sorted(ids) == ["a.png", "b.png"]
        assert store.image(ids["b.png"])["status"] == "missing"


def test_latest_finished_run_id(tmp_path: Path):
    with Store(tmp_path / "a.db") as store:
        store.set_classes([ClassSpec("cat", "1")])
        assert store.latest_finished_run_id() is None
        first = store.create_run("m", {}, ["cat"])
        store.update_run(first, status="finished")
        second = store.create_run("m", {}, ["cat"])
        assert store.latest_finished_run_id() == first  # the newer one still runs
        store.update_run(second, status="failed", reason="test")
        third = store.create_run("m", {}, ["cat"])
        store.update_run(third, status="finished")
        assert store.latest_finished_run_id() == third

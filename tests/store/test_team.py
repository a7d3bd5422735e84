"""A team on one database: leases, the overlap share, counts that follow the others, and the
review of disagreements (issue 9)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.data import make_images
from tests.helpers.queue import queue_of
from tui_label.cli import main as cli
from tui_label.core import orders
from tui_label.core.hashing import in_overlap
from tui_label.core.orders import OrderChoice
from tui_label.core.procs import HOST
from tui_label.core.types import ImageState
from tui_label.labeling.session import LabelSession
from tui_label.store import ClaimRequest, Store
from tui_label.store.migrations import SCHEMA_VERSION


def ids(store: Store) -> list[int]:
    return [it.id for it in queue_of(store, "all")]


def cls(store: Store, name: str) -> int:
    return next(c.id for c in store.classes() if c.name == name)


def other(store: Store, annotator: str) -> Store:
    return Store(store.path, annotator=annotator)


def lease_for(store: Store, image_id: int, annotator: str, pid: int, expires_in: float) -> None:
    """A lease row of another holder, written as its process would."""
    store.conn.execute(
        "INSERT OR REPLACE INTO leases (image_id, annotator, host, pid, expires_at) "
        "VALUES (?, ?, ?, ?, ?)", (image_id, annotator, HOST, pid, time.time() + expires_in))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def session_of(store: Store, annotator: str, **kw) -> LabelSession:
    s = LabelSession(other(store, annotator), **kw)
    s.load()
    return s


# -- the migration ------------------------------------------------------------------------

def test_migration_upgrades_a_schema_5_file(tmp_path: Path):
    from sqlite_utils import Database

    from tui_label.store.migrations import MIGRATIONS, migrations

    db = tmp_path / "five.db"
    conn = sqlite3.connect(db)
    conn.isolation_level = None
    migrations.apply(Database(conn), stop_before="m006_leases")
    conn.execute("PRAGMA user_version = 5")
    conn.execute("INSERT INTO images (path, size, mtime) VALUES ('a.png', 1, 1)")
    conn.execute("INSERT INTO classes (name, hotkey, position) VALUES ('cat', '1', 0)")
    conn.execute("INSERT INTO label_events (image_id, action, class_id, annotator, created_at) "
                 "VALUES (1, 'label', 1, 'x', '2026')")
    assert "leases" not in Database(conn).table_names()
    conn.close()
    assert MIGRATIONS[5].__name__ == "m006_leases" and SCHEMA_VERSION >= 6
    store = Store(db)
    assert store.schema_version() == SCHEMA_VERSION
    assert "leases" in store.db.table_names()
    assert [(r["path"], r["class"]) for r in store.current_labels()] == [("a.png", "cat")]
    store.close()


# -- leases -------------------------------------------------------------------------------

def test_a_claim_leases_the_next_images_to_this_process(store: Store):
    all_ids = ids(store)
    result = store.claim(ClaimRequest(queue_of(store, "all"), 3, ttl=30))
    assert result.claimed == all_ids[:3] and result.taken == []
    rows = store.leases()
    assert [r["image_id"] for r in rows] == all_ids[:3]
    assert {(r["annotator"], r["host"], r["pid"]) for r in rows} == {("tester", HOST, os.getpid())}
    assert all(time.time() + 25 < r["expires_at"] <= time.time() + 30 for r in rows)


def test_leases_are_renewed_and_released(store: Store):
    all_ids = ids(store)
    store.claim(ClaimRequest(queue_of(store, "all"), 3, ttl=5))
    first = {r["image_id"]: r["expires_at"] for r in store.leases()}
    held = store.renew_leases([all_ids[1], all_ids[2], all_ids[3]], ttl=60)
    assert held == all_ids[1:4]
    renewed = {r["image_id"]: r["expires_at"] for r in store.leases()}
    assert set(renewed) == set(all_ids[1:4])  # the one left behind is let go
    assert renewed[all_ids[1]] > first[all_ids[1]] + 50
    assert store.release_leases() == 3
    assert store.leases() == []


def test_someone_elses_lease_is_skipped_until_it_expires(store: Store):
    all_ids = ids(store)
    lease_for(store, all_ids[0], "bob", os.getppid(), expires_in=30)  # a live process
    result = store.claim(ClaimRequest(queue_of(store, "all"), 2))
    assert result.taken == [all_ids[0]] and result.claimed == all_ids[1:3]
    assert store.renew_leases([all_ids[0]], ttl=30) == []  # never taken over while held
    lease_for(store, all_ids[0], "bob", os.getppid(), expires_in=-1)  # lapsed
    assert store.claim(ClaimRequest(queue_of(store, "all"), 1)).claimed == [all_ids[0]]
    assert store.leases()[0]["annotator"] == "tester"


def test_a_dead_processs_lease_is_free_at_once(store: Store):
    all_ids = ids(store)
    lease_for(store, all_ids[0], "bob", dead_pid(), expires_in=30)
    assert store.claim(ClaimRequest(queue_of(store, "all"), 1)).claimed == [all_ids[0]]


def test_two_windows_of_one_annotator_split_the_work(store: Store):
    """Another process of the same person is someone else: its leases are skipped."""
    code = ("import sys; from tui_label.store import Store, ClaimRequest; "
            "s = Store(sys.argv[1], annotator='tester'); "
            "print(s.claim(ClaimRequest([r[:2] for r in s.queue_rows()], 2)).claimed, flush=True); "
            "sys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(store.path)], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        held = proc.stdout.readline()
        all_ids = ids(store)
        assert held.strip() == str(all_ids[:2])
        session = LabelSession(store)
        session.load()
        assert session.current.id == all_ids[2]
    finally:
        proc.communicate("bye\n", timeout=30)


# -- the queue skips what someone else has -------------------------------------------------

def test_two_labelers_never_get_the_same_image(store: Store):
    alice, bob = session_of(store, "alice"), session_of(store, "bob")
    assert alice.current.id != bob.current.id
    labeled: dict[str, list[int]] = {"alice": [], "bob": []}
    cat = cls(store, "cat")
    while alice.current is not None or bob.current is not None:
        for name, s in (("alice", alice), ("bob", bob)):
            if s.current is not None:
                labeled[name].append(s.current.id)
                s.label(cat)
    assert not set(labeled["alice"]) & set(labeled["bob"])
    assert sorted(labeled["alice"] + labeled["bob"]) == sorted(ids(store))
    events = store.conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]
    assert events == len(ids(store))


def test_an_image_labeled_by_another_since_the_queue_was_built_is_skipped(store: Store):
    me = LabelSession(store, lease_ahead=0)
    me.load()
    all_ids = ids(store)
    bob = other(store, "bob")
    bob.label(all_ids[1], cls(store, "dog"))  # not leased by me (no look-ahead), then labeled
    change = me.label(cls(store, "cat"))
    assert change.moved and me.current.id == all_ids[2]
    assert all_ids[1] not in [it.id for it in me.queue]
    bob.close()


def test_a_key_writes_once_label_and_leases_together(store: Store):
    session = LabelSession(store)
    session.load()
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    session.label(cls(store, "cat"))
    store.conn.set_trace_callback(None)
    assert sum(s.startswith("BEGIN") for s in statements) == 1
    assert sum(s == "COMMIT" for s in statements) == 1
    held = [r["image_id"] for r in store.leases()]
    assert held == [it.id for it in session.queue[1:1 + session.leases.ahead + 1]]


# -- the overlap share --------------------------------------------------------------------

def test_the_overlap_share_is_a_stable_fraction_of_paths():
    paths = [f"dir/img{i:05d}.png" for i in range(4000)]
    share = [p for p in paths if in_overlap(p, 0.1)]
    assert 300 < len(share) < 500
    assert share == [p for p in paths if in_overlap(p, 0.1)]  # the same every time
    assert not any(in_overlap(p, 0.0) for p in paths)
    assert all(in_overlap(p, 1.0) for p in paths)


def test_an_overlap_image_goes_to_a_second_annotator_who_does_not_see_the_first_label(
        store: Store):
    first = queue_of(store, "all")[0]
    cat, dog = cls(store, "cat"), cls(store, "dog")
    alice = other(store, "alice")
    alice.label(first.id, cat)
    bob = session_of(store, "bob", overlap=1.0)  # every image in the share
    assert bob.current.id == first.id  # still unlabeled for bob
    assert bob.state(first.id) == ImageState()
    assert bob.state_text(bob.state(first.id)) == "unlabeled"
    assert [r[2] for r in bob.store.queue_rows(1.0)][0] is None
    bob.label(dog)
    assert bob.store.own_state(first.id) == ImageState.of("label", dog)
    # Two annotators have labeled it: done for a third.
    carol = session_of(store, "carol", overlap=1.0)
    assert carol.queue[-1].id == first.id
    # Outside the share (overlap 0) it is done once: last in the queue, shown as labeled.
    dave = session_of(store, "dave")
    assert dave.queue[-1].id == first.id and dave.state(first.id).labeled
    alice.close()


def test_an_overlap_image_is_not_leased_and_stays_for_a_second_annotator(store: Store):
    alice = session_of(store, "alice", overlap=1.0)
    bob = session_of(store, "bob", overlap=1.0)
    assert alice.current.id == bob.current.id  # shared on purpose
    assert store.leases() == []
    image_id = alice.current.id
    alice.label(cls(store, "cat"))
    bob.label(cls(store, "dog"))  # labeled after alice's: kept, not skipped
    annotators = store.conn.execute(
        "SELECT annotator FROM label_events WHERE image_id = ? ORDER BY id",
        (image_id,)).fetchall()
    assert annotators == [("alice",), ("bob",)]


# -- counts -------------------------------------------------------------------------------

async def test_the_screen_counts_other_labelers_work(store: Store, dataset: Path):
    from tui_label.tui.app import LabelApp
    from tui_label.tui.screens.label_jobs import COUNTS_SECONDS
    from tui_label.tui.widgets.image_view import load_renderer

    assert COUNTS_SECONDS <= 2
    app = LabelApp(store, dataset, load_renderer("halfcell"), rescan=False)
    bob = other(store, "bob")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.label_screen
        await pilot.pause(0.2)
        for image_id in ids(store)[-3:]:
            bob.label(image_id, cls(store, "dog"))
        for _ in range(400):  # wait for the background refresh (no timing asserted)
            if screen.session.counts.labeled == 3:
                break
            await pilot.pause(0.05)
        assert screen.session.counts.labeled == 3
        assert screen.session.counts.per_class == {cls(store, "dog"): 3}
    bob.close()


# -- disagreements ------------------------------------------------------------------------

def disagreeing(store: Store) -> tuple[int, int]:
    """Image 0: alice cat, bob dog (a disagreement); image 1: both cat."""
    first, second = ids(store)[:2]
    cat, dog = cls(store, "cat"), cls(store, "dog")
    alice, bob = other(store, "alice"), other(store, "bob")
    alice.label(first, cat)
    bob.label(first, dog)
    alice.label(second, cat)
    bob.label(second, cat)
    alice.close()
    bob.close()
    return first, second


def test_the_disagreements_order_lists_images_annotators_disagree_on(store: Store):
    first, _ = disagreeing(store)
    assert [it.id for it in queue_of(store, "disagreements")] == [first]
    assert store.disagreement_count() == 1
    names = {c.id: c.name for c in store.classes()}
    assert [(who, sorted(names[c] for c in cs)) for who, cs in store.opinions(first)] == [
        ("alice", ["cat"]), ("bob", ["dog"])]
    choice = orders.parse("disagreements", store.classes())
    assert choice.describe(names) == "Disagreements between annotators (review)"


def test_disagreements_are_in_the_cycle_and_picker_only_when_there_are_any(store: Store):
    ring = [o.name for o in orders.choices(store.classes())]
    assert "disagreements" not in ring
    with_any = orders.choices(store.classes(), has_disagreements=True)
    assert OrderChoice("disagreements") in with_any
    assert orders.cycle(OrderChoice("random"), 1, has_model=False).name == "typical"
    assert orders.cycle(OrderChoice("typical"), 1, has_model=False).name == "unlabeled"
    assert orders.cycle(OrderChoice("typical"), 1, has_model=False,
                        has_disagreements=True).name == "disagreements"
    assert orders.cycle(OrderChoice("disagreements"), 1, has_model=False,
                        has_disagreements=True).name == "unlabeled"


def test_a_review_settles_a_disagreement_for_everyone(store: Store):
    first, _ = disagreeing(store)
    bird = cls(store, "bird")
    rita = session_of(store, "rita", order=OrderChoice("disagreements"))
    assert rita.current.id == first
    assert rita.opinions(first) == [("alice", "cat"), ("bob", "dog")]
    change = rita.label(bird)
    assert change.moved and rita.current is None
    row = store.conn.execute("SELECT annotator, source, class_id FROM label_events "
                             "ORDER BY id DESC LIMIT 1").fetchone()
    assert row == ("rita", "review", bird)
    assert store.current(first) == ImageState.of("label", bird)
    assert queue_of(store, "disagreements") == [] and store.disagreement_count() == 0
    # In the overlap share too, the settled label is what everyone sees.
    alice = session_of(store, "alice", overlap=1.0)
    assert alice.state(first) == ImageState.of("label", bird)


def test_an_undone_review_reopens_the_disagreement(store: Store):
    first, _ = disagreeing(store)
    rita = session_of(store, "rita", order=OrderChoice("disagreements"))
    rita.label(cls(store, "cat"))
    rita.undo()
    assert [it.id for it in queue_of(store, "disagreements")] == [first]


# -- the option ---------------------------------------------------------------------------

def test_overlap_option_is_stored_for_the_team_and_reaches_the_screen(tmp_path: Path,
                                                                      monkeypatch):
    data = tmp_path / "data"
    make_images(data, 3)
    seen: dict = {}
    monkeypatch.setattr("tui_label.tui.app.LabelApp.run",
                        lambda self: seen.update(overlap=self.label_screen.session.overlap))

    def run(*args: str) -> int:
        with pytest.raises(SystemExit) as info:
            cli.main(["label", str(data), "--renderer", "halfcell", *args])
        return info.value.code

    assert run("--classes", "a,b") == 0 and seen["overlap"] == 0.0
    assert run("--overlap", "0.25") == 0 and seen["overlap"] == 0.25
    assert run() == 0 and seen["overlap"] == 0.25  # the stored share, for everyone
    (data / "tui-label.toml").write_text('classes = ["a", "b"]\noverlap = 0.5\n')
    assert run() == 0 and seen["overlap"] == 0.5
    assert run("--overlap", "0") == 0 and seen["overlap"] == 0.0


@pytest.mark.parametrize("value", ["1.5", "-0.1", "half"])
def test_a_bad_overlap_is_one_line(tmp_path: Path, capsys, value: str):
    data = tmp_path / "data"
    make_images(data, 2)
    with pytest.raises(SystemExit) as info:
        cli.main(["label", str(data), "--classes", "a,b", "--overlap", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tui-label: error:") and "--overlap" in err and err.count("\n") == 1
    assert not (data / "tui-label.db").exists()

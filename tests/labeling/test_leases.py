"""LeaseWindow: which images of a queue a session leases, and what it drops."""

from __future__ import annotations

from tests.helpers.queue import queue_of
from tui_label.core.hashing import in_overlap
from tui_label.core.types import QueueItem
from tui_label.labeling.leases import LeaseWindow
from tui_label.store import ClaimResult, Store


def items(n: int) -> list[QueueItem]:
    return [QueueItem(i, f"img{i:03d}.png") for i in range(1, n + 1)]


def test_a_request_covers_the_window_from_a_position():
    window = LeaseWindow(ahead=2, seconds=9.0)
    window.since = 17
    window.mine.add(4)
    queue = items(6)
    req = window.request(queue, 3, release=3)
    assert [it.id for it in req.candidates] == [4, 5, 6]
    assert (req.want, req.since, req.ttl, req.release) == (3, 17, 9.0, 3)
    assert 4 in req.mine


def test_taken_images_leave_only_the_scanned_part_of_the_queue():
    window = LeaseWindow()
    queue = items(6)
    window.drop_taken(queue, 1, ClaimResult(claimed=[2, 4], taken=[3, 6], scanned=3))
    assert [it.id for it in queue] == [1, 2, 4, 5, 6]  # 6 was not scanned: it stays
    window.drop_taken(queue, 0, ClaimResult(claimed=[1], taken=[], scanned=1))
    assert len(queue) == 5


def test_held_is_the_current_image_and_the_next_ones_outside_the_overlap_share():
    queue = items(40)
    assert LeaseWindow(ahead=2).held(queue, 5) == [6, 7, 8]
    assert LeaseWindow(ahead=4).held(queue, 38) == [39, 40]
    shared = LeaseWindow(ahead=30, overlap=0.5)
    held = shared.held(queue, 0)
    assert held and len(held) < 31
    assert all(not in_overlap(f"img{i:03d}.png", 0.5) for i in held)


def test_claim_leases_the_window_on_the_store(store: Store):
    queue = queue_of(store)
    window = LeaseWindow(ahead=1)
    assert window.claim(store, queue, 0, lock_wait_ms=200)
    assert [r["image_id"] for r in store.leases()] == [it.id for it in queue[:2]]
    bob = Store(store.path, annotator="bob")
    bobs = queue_of(bob)
    bob_window = LeaseWindow(ahead=1)
    assert bob_window.claim(bob, bobs, 0, lock_wait_ms=200)
    assert [it.id for it in bobs[:2]] == [it.id for it in queue[2:4]]  # mine left out
    bob.close()

"""Which images of a session's queue are leased to it, on a database several labelers share.

The image on screen and the next ``ahead`` (the prefetched ones) are leased to this process for
``seconds``, renewed while shown; nobody else is offered them. Each key's write also leases the
images it moves on to (``Store.add_event_and_claim``, one transaction), and the images someone
else holds, or has labeled since the queue was built, leave the queue.

No textual. The queue stays the session's: each call is handed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

from tui_label.core.hashing import in_overlap
from tui_label.core.types import QueueItem
from tui_label.store import ClaimRequest, ClaimResult, Store, StoreWriteError

LEASE_AHEAD = 4
LEASE_SECONDS = 30.0


class LeaseWindow:
    """The leases of one session.

    Args:
        ahead: How many images past the current one are leased.
        seconds: How long a lease lasts unless renewed.
        overlap: The share of images meant for two annotators or more (never leased).
    """

    def __init__(self, ahead: int = LEASE_AHEAD, seconds: float = LEASE_SECONDS,
                 overlap: float = 0.0) -> None:
        self.ahead = ahead
        self.seconds = seconds
        self.overlap = overlap
        self.mine: set[int] = set()  # ids of the events this session wrote
        self.since = 0  # the newest event when the queue was built

    def request(self, queue: Sequence[QueueItem], start: int,
                release: int | None = None) -> ClaimRequest:
        """What to lease from ``queue[start]`` on; ``release``: an image whose lease goes."""
        return ClaimRequest(islice(queue, start, None), self.ahead + 1, since=self.since,
                            mine=self.mine, overlap=self.overlap, ttl=self.seconds,
                            release=release)

    def drop_taken(self, queue: list[QueueItem], start: int, result: ClaimResult) -> None:
        """Leave the images someone else has out of ``queue`` (in place; they are among the
        ``result.scanned`` from ``start``)."""
        if result.taken:
            taken = set(result.taken)
            end = start + result.scanned
            queue[start:end] = [it for it in queue[start:end] if it.id not in taken]

    def claim(self, store: Store, queue: list[QueueItem], pos: int, lock_wait_ms: int) -> bool:
        """Lease ``queue[pos]`` and the next ones (a new queue: start-up, another order),
        leaving out of ``queue`` those someone else has. False when the write failed (then
        the background renewal tries again; nothing else changes)."""
        try:
            with store.busy_timeout(lock_wait_ms):
                result = store.claim(self.request(queue, pos))
        except StoreWriteError:
            return False
        self.drop_taken(queue, pos, result)
        return True

    def held(self, queue: Sequence[QueueItem], pos: int) -> list[int]:
        """The images this session holds leases on: ``queue[pos]`` and the next ``ahead``
        (none in the overlap share)."""
        window = queue[pos:pos + self.ahead + 1]
        return [it.id for it in window if not in_overlap(it.path, self.overlap)]

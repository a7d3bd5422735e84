"""Work the labeler does off the UI thread, each with its own connection (never shared across
threads). No textual: the screen runs these in thread workers and posts what they return."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from multiprocessing import resource_tracker
from pathlib import Path
from typing import TYPE_CHECKING

from tui_label.core.orders import OrderChoice
from tui_label.core.types import Counts, QueueItem, QueueRow, SyncResult
from tui_label.media.scan import scan
from tui_label.store import Store, StoreWriteError

if TYPE_CHECKING:
    from tui_label.assist.model_view import ModelView
    from tui_label.dataio.stats import Stats

LOCK_POLL_MS = 1000


def count(db: Path) -> Counts:
    """Fresh counts, other labelers' work included."""
    with Store(db) as store:
        return store.counts()


def count_through(db: Path) -> tuple[Counts, int]:
    """Fresh counts, other labelers' work included, and the newest event they include."""
    with Store(db) as store:
        return store.counts_through()


def disagreement_count(db: Path) -> int:
    """How many images annotators disagree on (``--order disagreements`` lists them)."""
    with Store(db) as store:
        return store.disagreement_count()


def renew_leases(db: Path, annotator: str, image_ids: list[int], ttl: float) -> list[int]:
    """Renew this process's leases on ``image_ids`` and let go of its others (the same
    process: the same holder as the labeler's own connection)."""
    with Store(db, annotator=annotator) as store:
        return store.renew_leases(image_ids, ttl)


def rescan(db: Path, root: Path) -> SyncResult:
    """Walk the dataset again and bring the images table in line with it."""
    with Store(db) as store:
        return store.sync_images(scan(root))


def wait_for_write_lock(db: Path, cancelled: Callable[[], bool] = lambda: False) -> None:
    """Return once a write could happen (another process let go of the lock), or once the
    failure is no longer a lock (then the next key says what it is)."""
    with Store(db, busy_timeout_ms=LOCK_POLL_MS) as store:
        while not cancelled():
            try:
                store.probe_write()
                return
            except StoreWriteError as exc:
                if exc.kind != "locked":
                    return


def rank(db: Path, order: OrderChoice, model: ModelView | None, *,
         annotator: str | None = None, overlap: float = 0.0) -> list[QueueItem]:
    """The queue of ``order`` ranked by ``model``, as ``annotator`` sees it with an
    ``overlap`` share."""
    with Store(db, annotator=annotator) as store:
        return order.rank(store.rows_for(order.order.source, overlap), model)


def order_counts(db: Path, choices: Sequence[OrderChoice], model: ModelView | None,
                 each: Callable[[OrderChoice, int], object], *, annotator: str | None = None,
                 overlap: float = 0.0, cancelled: Callable[[], bool] = lambda: False) -> None:
    """How many images each of ``choices`` holds as ``annotator`` sees it (``rank``'s rows):
    ``each(choice, count)`` one at a time, in order, until ``cancelled``."""
    with Store(db, annotator=annotator) as store:
        rows: dict[str, list[QueueRow]] = {}
        for choice in choices:
            if cancelled():
                return
            source = choice.order.source
            if source not in rows:
                rows[source] = store.rows_for(source, overlap)
            each(choice, choice.size(rows[source], model))


def statistics(db: Path) -> Stats:
    """Per class, per annotator and agreement statistics (``tui_label.dataio.stats.Stats``)."""
    from tui_label.dataio.stats import compute  # heavy: numpy

    with Store(db) as store:
        return compute(store)


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real file as its stderr.

    Under Textual ``sys.stderr`` is a capture whose ``fileno()`` is -1; the tracker passes that
    to its child, and starting a process pool then fails with "bad value(s) in fds_to_keep".
    Once the tracker runs, later pools reuse it. (It writes its rare warnings to /dev/null,
    never across the screen.)
    """
    captured = sys.stderr
    with open(os.devnull, "w") as null:
        sys.stderr = null
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = captured

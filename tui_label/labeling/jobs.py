"""Work the labeler does off the UI thread, each with its own connection (never shared across
threads). No textual: the screen runs these in thread workers and posts what they return."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tui_label.core.orders import OrderChoice
from tui_label.core.types import Counts, QueueItem, SyncResult
from tui_label.media.scan import scan
from tui_label.store import Store, StoreWriteError

LOCK_POLL_MS = 1000


def count(db: Path) -> Counts:
    """Fresh counts, other labelers' work included."""
    store = Store(db)
    try:
        return store.counts()
    finally:
        store.close()


def count_through(db: Path) -> tuple[Counts, int]:
    """Fresh counts, other labelers' work included, and the newest event they include."""
    store = Store(db)
    try:
        return store.counts_through()
    finally:
        store.close()


def disagreement_count(db: Path) -> int:
    """How many images annotators disagree on (``--order disagreements`` lists them)."""
    store = Store(db)
    try:
        return store.disagreement_count()
    finally:
        store.close()


def renew_leases(db: Path, annotator: str, image_ids: list[int], ttl: float) -> list[int]:
    """Renew this process's leases on ``image_ids`` and let go of its others (the same
    process: the same holder as the labeler's own connection)."""
    store = Store(db, annotator=annotator)
    try:
        return store.renew_leases(image_ids, ttl)
    finally:
        store.close()


def rescan(db: Path, root: Path) -> SyncResult:
    """Walk the dataset again and bring the images table in line with it."""
    store = Store(db)
    try:
        return store.sync_images(scan(root))
    finally:
        store.close()


def wait_for_write_lock(db: Path, cancelled=lambda: False) -> None:
    """Return once a write could happen (another process let go of the lock), or once the
    failure is no longer a lock (then the next key says what it is)."""
    store = Store(db, busy_timeout_ms=LOCK_POLL_MS)
    try:
        while not cancelled():
            try:
                store.probe_write()
                return
            except StoreWriteError as exc:
                if exc.kind != "locked":
                    return
    finally:
        store.close()


def rank(db: Path, order: OrderChoice, model, *, annotator: str | None = None,
         overlap: float = 0.0) -> list[QueueItem]:
    """The queue of ``order`` ranked by ``model`` (a ``tui_label.assist.model_view.ModelView``), as
    ``annotator`` sees it with an ``overlap`` share."""
    store = Store(db, annotator=annotator)
    try:
        return order.rank(store.rows_for(order.order.source, overlap), model)
    finally:
        store.close()


def latest_predictions(db: Path) -> tuple[int, str] | None:
    """The newest run with stored predictions and when they were stored (a cheap check before
    loading them: ``tui-label predict`` may predict a run again)."""
    store = Store(db)
    try:
        run = store.latest_predicted_run()
        return (run["id"], run["predicted_at"]) if run else None
    finally:
        store.close()


def load_model(db: Path):
    """The latest run's ``ModelView`` (None without one); ``ModelUnavailable`` when its files
    are missing or damaged."""
    from tui_label.assist.model_view import ModelView

    store = Store(db)
    try:
        return ModelView.load(store)
    finally:
        store.close()


def fit_live(db: Path, model, head):
    """The live head refit on every current label (``tui_label.assist.model_view.fit_live``)."""
    from tui_label.assist.model_view import fit_live as fit

    store = Store(db)
    try:
        return fit(store, model, head)
    finally:
        store.close()


def statistics(db: Path):
    """Per class, per annotator and agreement statistics (``tui_label.dataio.stats.Stats``)."""
    from tui_label.dataio.stats import compute

    store = Store(db)
    try:
        return compute(store)
    finally:
        store.close()


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real file as its stderr.

    Under Textual ``sys.stderr`` is a capture whose ``fileno()`` is -1; the tracker passes that
    to its child, and starting a process pool then fails with "bad value(s) in fds_to_keep".
    Once the tracker runs, later pools reuse it. (It writes its rare warnings to /dev/null,
    never across the screen.)
    """
    from multiprocessing import resource_tracker

    captured = sys.stderr
    with open(os.devnull, "w") as null:
        sys.stderr = null
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = captured

"""The labeling screen's periodic and background work, and its garbage-collection policy.

``LabelJobs`` installs the timers (counts, leases, the periodic refresh, the GC tick) and runs
the slow reads and writes in thread workers of the screen (each with its own connection, in
``tui_label.labeling.jobs``); results come back as messages to the screen. Every worker is
named: a failure is shown by the screen's one ``Worker.StateChanged`` handler.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.markup import escape
from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from tui_label.core.orders import OrderChoice
from tui_label.core.rankings import Pixels
from tui_label.core.types import QueueItem, SyncResult
from tui_label.labeling import jobs as background
from tui_label.labeling.change import Change
from tui_label.labeling.session import LabelSession
from tui_label.media.decode import Prefetcher
from tui_label.store import Store, StoreWriteError
from tui_label.tui.presenters import confusion_notice
from tui_label.tui.quiet_gc import QuietGC
from tui_label.tui.screens.messages import (
    CountsRefreshed,
    DisagreementsCounted,
    ModelReady,
    OrderRanked,
    ScanDone,
    WriteLockFree,
)
from tui_label.tui.widgets.alert import Alert

REFRESH_SECONDS = 5.0
COUNTS_SECONDS = 1.0  # other labelers' work shows in the counts within this (and a read)
LEASE_RENEW_SECONDS = 5.0  # leases last LEASE_SECONDS (30 s): renewed well before they lapse
GC_TICK_SECONDS = 1.0
NOT_SAVED = {"label": "this label was not saved", "skip": "this skip was not saved",
             "undo": "nothing was undone"}


class LabelJobs:
    """Timers and thread workers of one labeling screen."""

    def __init__(self, screen: Screen, store: Store, root: Path, session: LabelSession,
                 prefetcher: Prefetcher, *, runner: Callable[..., object] | None = None
                 ) -> None:
        self.screen, self.store, self.root, self.session = screen, store, root, session
        self.prefetcher = prefetcher
        self.runner = runner  # runs a function in the live head's process (TypiClust)
        self._cold_ranked = False
        self._gc = QuietGC()
        self.locked = False  # a key met another process's lock: keys wait for it
        self.wanted_order: OrderChoice | None = None  # the order chosen last (set_order)

    def _run(self, fn: Callable[[], object], group: str, name: str) -> None:
        self.screen.run_worker(fn, thread=True, exclusive=True, group=group,
                               exit_on_error=False, name=name)

    def start(self, *, refresh_model: Callable[[], object]) -> None:
        """The timers: decodes saved, disagreements counted and ``refresh_model`` called every
        REFRESH_SECONDS; counts and lease renewals."""

        def refresh() -> None:
            self.flush_decodes()
            self.count_disagreements()
            refresh_model()

        self.screen.set_interval(REFRESH_SECONDS, refresh)
        self.screen.set_interval(COUNTS_SECONDS, self.count)
        self.screen.set_interval(LEASE_RENEW_SECONDS, self.renew_leases)
        self.count_disagreements()

    def first_paint(self, *, rescan: bool, last_key: Callable[[], float]) -> None:
        """After the first image: collections only when cheap (``last_key``: perf_counter() of
        the latest key), and the folder scanned again (``rescan``)."""
        self._gc.take_over()
        self.screen.set_interval(GC_TICK_SECONDS, lambda: self._gc.tick(last_key()))
        if rescan:
            self.rescan()

    def failed(self, worker: Worker) -> None:
        """A worker failed: said once, never lost (a lock wait that failed lets keys try)."""
        if worker.name == "lock wait":
            self.locked = False
        self.screen.notify(escape(f"{worker.name} failed: {worker.error}"), severity="error",
                           timeout=8)

    def close(self) -> None:
        """Leaving: collection back to Python, decodes saved, leases given back."""
        self._gc.release()
        self.flush_decodes()
        self.release_leases()

    def flush_decodes(self) -> None:
        try:
            self.prefetcher.decodes.flush(self.session.record_decodes)
        except StoreWriteError:
            pass  # kept for the next try; a key's write will say what is wrong

    def count(self) -> None:
        """Fresh counts (other labelers' work included): ``CountsRefreshed``."""
        db, post = self.store.path, self.screen.post_message
        self._run(lambda: post(CountsRefreshed(*background.count_through(db))),
                  "counts", "count")

    def count_disagreements(self) -> None:
        db, post = self.store.path, self.screen.post_message
        self._run(lambda: post(DisagreementsCounted(background.disagreement_count(db))),
                  "disagreements", "disagreement count")

    def renew_leases(self) -> None:
        db, annotator = self.store.path, self.store.annotator
        image_ids, ttl = self.session.lease_window(), self.session.leases.seconds

        def renew() -> None:
            try:
                background.renew_leases(db, annotator, image_ids, ttl)
            except StoreWriteError:
                pass  # locked or full: the next renewal tries again, well before they lapse

        self._run(renew, "leases", "lease renewal")

    def release_leases(self) -> None:
        """Leaving: the images this labeler held are offered to the others at once."""
        try:
            with self.store.busy_timeout(500):
                self.store.release_leases()
        except StoreWriteError:
            pass  # they lapse by themselves within LEASE_SECONDS

    def rescan(self) -> None:
        """Walk the dataset again: ``ScanDone``."""
        db, root, post = self.store.path, self.root, self.screen.post_message
        self._run(lambda: post(ScanDone(background.rescan(db, root))), "scan", "rescan")

    def scan_done(self, result: SyncResult) -> Change | None:
        """``ScanDone``: the session follows the folder, changed files are decoded again;
        None when nothing changed."""
        r = result
        if not (r.added or r.missing or r.changed or r.returned):
            return None
        for image_id in r.changed_ids:
            self.prefetcher.forget(image_id)  # its file changed: decode it again
        change = self.session.refresh(r)
        self.screen.notify(f"Rescan: {r.added} new, {r.changed} changed, {r.missing} missing.",
                           timeout=4)
        return change

    def write(self, what: str, call: Callable[[], Change]) -> Change | None:
        """Run a key's write (``what``: label, skip or undo). None when it failed: the key is
        not acknowledged, the alert says why, and a lock is waited for in the background
        (keys are refused at once meanwhile)."""
        alert = self.screen.query_one(Alert)
        if self.locked:
            self.screen.app.bell()  # still locked: refused at once, without waiting again
            return None
        try:
            change = call()
        except StoreWriteError as exc:
            self.screen.app.bell()
            if exc.kind == "locked":
                alert.say(f"{exc}: waiting · {NOT_SAVED[what]}")
                self.wait_for_lock()
            else:
                alert.say(f"{exc}: {NOT_SAVED[what]}")
            return None
        alert.say(None)
        return change

    def lock_free(self) -> None:
        """``WriteLockFree``: keys write again."""
        self.locked = False
        self.screen.query_one(Alert).say(None)
        self.screen.notify("The database is free again: press the key again.", timeout=3)

    def wait_for_lock(self) -> None:
        """Wait in the background for another process's write lock to go: ``WriteLockFree``
        (``locked`` until then: keys are refused at once)."""
        self.locked = True
        db, post = self.store.path, self.screen.post_message

        def wait() -> None:
            worker = get_current_worker()
            background.wait_for_write_lock(db, lambda: worker.is_cancelled)
            post(WriteLockFree())

        self._run(wait, "lock", "lock wait")

    def rank(self, order: OrderChoice, model: object) -> list[QueueItem]:
        """On a worker thread: ``order``'s queue ranked by ``model``, as this annotator sees
        it."""
        return background.rank(self.store.path, order, model, annotator=self.store.annotator,
                               overlap=self.session.overlap)

    def ranked(self, model: object) -> list[QueueItem] | None:
        """On a worker thread: the current order's queue ranked by ``model`` (None when the
        order does not read the model)."""
        order = self.session.order
        if not order.order.ranks_by_model or model is None:
            return None
        return self.rank(order, model)

    def pixels(self) -> Pixels | None:
        """Typical first's ranking before any model: by thumbnails, in the live head's
        process."""
        if self.runner is None:
            return None
        from tui_label.assist.pixels import typical_paths  # heavy: numpy, scikit-learn

        root, runner = str(self.root), self.runner
        return Pixels(lambda paths: runner(typical_paths, root, paths))

    def cold_start(self) -> None:
        """On a worker thread, once, before any model: the current order ranked by the
        images' pixels when it can be (typical first, the default), behind the image on
        screen (``OrderRanked`` with ``keep``)."""
        order, pixels = self.session.order, self.pixels()
        if self._cold_ranked or not order.order.cold or pixels is None:
            return
        self._cold_ranked = True
        self.screen.post_message(OrderRanked(order, self.rank(order, pixels), keep=True))

    def count_orders(self, choices: list[OrderChoice],
                     each: Callable[[OrderChoice, int], object],
                     cancelled: Callable[[], bool]) -> None:
        """On a worker thread (the order picker's): how many images each of ``choices``
        holds, ranked by the session's model, as this annotator sees them."""
        background.order_counts(self.store.path, choices, self.session.model, each,
                                annotator=self.store.annotator, overlap=self.session.overlap,
                                cancelled=cancelled)

    def rank_in_thread(self, order: OrderChoice, model: object) -> None:
        """Rank a model order in the background: ``OrderRanked``."""
        post = self.screen.post_message
        self._run(lambda: post(OrderRanked(order, self.rank(order, model))), "rank", "ordering")

    def set_order(self, order: OrderChoice) -> Change | None:
        """Switch orders; None while a model order is ranked in the background (``OrderRanked``
        switches to it)."""
        self.wanted_order = order  # a ranking for an order chosen before this one is dropped
        model = self.session.model
        if order.order.ranks_by_model and model is None and order.order.cold:
            model = self.pixels()  # typical first before any model: by pixels
        if order.order.ranks_by_model and model is not None:
            self.rank_in_thread(order, model)
            return None
        change = self.session.set_order(order)
        self.wanted_order = self.session.order  # as it is now (a refused order: the old one)
        return change

    def take_ranked(self, message: OrderRanked) -> Change | None:
        """``OrderRanked``: switch to it, unless another order was chosen meanwhile (None)."""
        if message.keep:  # the order on screen ranked again, behind the image on screen
            if message.order != self.session.order or self.session.model is not None:
                return None  # left meanwhile, or a model came first: it ranks the order
            return self._ahead_changed(self.session.rerank(message.ranked))
        if message.order != self.wanted_order:
            return None  # another order was chosen while this one was being ranked
        change = self.session.set_order(message.order, message.ranked)
        notice = confusion_notice(self.session) if self.session.order == message.order else None
        if notice:
            self.screen.notify(notice, timeout=8, markup=False)
        return change

    def take_model(self, message: ModelReady) -> Change | None:
        """``ModelReady``: the session takes the new model (re-ranking the current order in
        the background when it changed meanwhile); None for a live head over a replaced run."""
        current, model = self.session.model, message.model
        if message.labels_at is not None and (
                current is None or model is None or model.run_id != current.run_id):
            return None  # a live head over a run that has been replaced since
        order = self.session.order
        ranked = message.ranked if message.order == order else None
        if ranked is None and order.order.ranks_by_model:
            self.rank_in_thread(order, model)  # the order changed meanwhile
        return self._ahead_changed(self.session.reorder(model, ranked,
                                                        labels_at=message.labels_at))

    def _ahead_changed(self, change: Change) -> Change:
        if not change.moved:
            self.screen.stage.ahead_changed()  # the next images are others now
        return change

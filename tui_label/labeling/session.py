"""A labeling session without a screen: the queue, the position, the order, the undo stack,
and the calls a key makes.

No textual and no torch. Each call that a key makes returns a ``Change`` saying what happened,
and the screen draws it. A write that fails raises ``StoreWriteError`` before anything in the
session moves: the key is simply not acknowledged. The counts it keeps live are a
``LiveCounts`` (``counts.py``), its leases a ``LeaseWindow`` (``leases.py``), its model a
``SessionModel`` (``model.py``); its texts come from ``texts.py``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tui_label.core import orders
from tui_label.core.hashing import in_overlap
from tui_label.core.orders import OrderChoice
from tui_label.core.pace import ActiveTime
from tui_label.core.types import ClassRow, Counts, ImageState, QueueItem, SyncResult
from tui_label.errors import UsageError
from tui_label.labeling import texts
from tui_label.labeling.change import Change
from tui_label.labeling.counts import LiveCounts
from tui_label.labeling.leases import LEASE_AHEAD, LEASE_SECONDS, LeaseWindow
from tui_label.labeling.model import SessionModel
from tui_label.media.decode_log import DecodeRow
from tui_label.store import Store, UndoConflict

if TYPE_CHECKING:
    from tui_label.assist.model_view import ModelView

# How long a key may wait for another process's write lock before it is refused: short, so
# the interface never freezes; the screen says the database is locked and waits in the back.
LOCK_WAIT_MS = 200


class LabelSession:
    """The labeling state of one annotator on one store.

    Args:
        store: The session's store (its connection is used from one thread only).
        order: The order to queue images in.
        lock_wait_ms: How long a key's write waits for another process's lock.
        overlap: The share of images meant for two annotators or more (``--overlap``).

    Several labelers on one database never get the same image: each key's write also leases
    the images it moves on to (``Store.add_event_and_claim``, one transaction), skipping those
    someone else holds or has labeled since this queue was built (they leave the queue).
    """

    def __init__(self, store: Store, order: OrderChoice | None = None, *,
                 lock_wait_ms: int = LOCK_WAIT_MS, overlap: float = 0.0,
                 lease_ahead: int = LEASE_AHEAD, lease_seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.order = order or OrderChoice()
        self.lock_wait_ms = lock_wait_ms
        self.overlap = overlap
        self.leases = LeaseWindow(lease_ahead, lease_seconds, overlap)
        self.live = LiveCounts()
        self.disagreements = 0  # images annotators disagree on (counted in the background)
        self.queue: list[QueueItem] = []
        self.pos = 0
        self.undo_stack: list[int] = []  # event ids of this session, newest last
        self.events = 0  # labels and skips of this session, minus undos
        self.active = ActiveTime()  # the pace's active time (``core/pace.py``, as in stats)
        self.assist = SessionModel()
        self.labeled_here: set[int] = set()  # images labeled or skipped in this session
        # Multi-label mode: class keys toggle classes of the image on screen (``pending``, for
        # image ``pending_for``) and ``commit_set`` (enter) saves the set and moves on.
        self.multi_label = store.multi_label
        self.pending: frozenset[int] | None = None
        self.pending_for: int | None = None
        self.load_classes()

    # -- reading --------------------------------------------------------------------------

    def load_classes(self) -> None:
        every = self.store.classes()
        self.classes: list[ClassRow] = [c for c in every if c.hotkey]
        self.naming = texts.ClassNames.of(every)
        self.class_names: dict[int, str] = dict(self.naming.names)

    def load(self) -> Change:
        """Read the counts and build the queue (at start-up). An order that needs a model
        loads it now (else it comes later, in the background); when it cannot be read, the
        default order is used and the notice says why."""
        self.live.reset(*self.store.counts_through())
        notice = None
        if self.order.order.needs_model and self.model is None:
            from tui_label.assist.model_view import ModelView  # heavy: numpy

            try:
                self.set_model(ModelView.load(self.store))
            except UsageError as exc:
                notice = str(exc)
        mark = self.store.last_event_id()
        try:
            queue = self._build_queue(self.order)
        except UsageError as exc:
            notice = notice or str(exc)
            self.order = OrderChoice()
            queue = self._build_queue(self.order)
        self._start(queue, mark)
        return Change(moved=True, notice=notice)

    def _build_queue(self, order: OrderChoice) -> list[QueueItem]:
        return order.rank(self.store.rows_for(order.order.source, self.overlap), self.model)

    def _start(self, queue: list[QueueItem], mark: int) -> None:
        """A new queue (built after event ``mark``), from its start: its first images are
        leased, leaving out those someone else has (a failed write: the renewal tries again)."""
        self.queue, self.pos, self.leases.since = queue, 0, mark
        self.leases.claim(self.store, self.queue, self.pos, self.lock_wait_ms)

    @property
    def counts(self) -> Counts:
        """The counts shown: read in the background, this session's changes on top."""
        return self.live.counts

    @property
    def current(self) -> QueueItem | None:
        return self.queue[self.pos] if 0 <= self.pos < len(self.queue) else None

    def ahead(self, n: int) -> list[QueueItem]:
        """The next ``n`` images and the previous one: what to prefetch."""
        offsets = (*range(1, n + 1), -1)
        return [self.queue[self.pos + k] for k in offsets if 0 <= self.pos + k < len(self.queue)]

    def state(self, image_id: int, path: str | None = None) -> ImageState:
        """What the screen shows for an image: its current state, except in the overlap share,
        where it is this annotator's own (another's label there is never shown; a review is)."""
        if self.overlap > 0 and self.order.order.source != "disagreements":
            if path is None:
                path = self.store.image(image_id)["path"]
            if in_overlap(path, self.overlap):
                return self.store.own_state(image_id)
        return self.store.current(image_id)

    def opinions(self, image_id: int) -> list[tuple[str, str]]:
        """Each annotator's own latest label of an image: ``(annotator, class name)``."""
        return [(who, self.naming.join(cs)) for who, cs in self.store.opinions(image_id)]

    # -- leases ---------------------------------------------------------------------------

    def lease_window(self) -> list[int]:
        """The images this session holds leases on (``LeaseWindow.held``)."""
        return self.leases.held(self.queue, self.pos)

    # -- texts (``texts.py``) --------------------------------------------------------------

    def state_text(self, state: ImageState) -> str:
        return texts.state_text(state, self.naming)

    def label_text(self, image_id: int, state: ImageState) -> str:
        toggled = self.toggled(image_id, state) if self.multi_label else None
        return texts.label_text(state, self.naming, toggled)

    def describe_order(self) -> str:
        source = self.model.source() if self.model is not None else None
        return texts.describe_order(self.order, self.class_names, source)

    def end_message(self) -> str:
        return texts.end_message(len(self.queue), self.counts.remaining)

    # -- the model ------------------------------------------------------------------------

    @property
    def model(self) -> ModelView | None:
        """The model: its suggestions, and what the model orders rank by (None: none yet)."""
        return self.assist.view

    @property
    def labels_made(self) -> int:
        return self.assist.labels_made

    @property
    def newer_labels(self) -> int:
        return self.assist.newer_labels

    def set_model(self, model: ModelView | None, *, labels_at: int | None = None) -> None:
        """Take a (new) model (``SessionModel.take``)."""
        self.assist.take(model, labels_at=labels_at)

    def suggestions(self, image_id: int) -> list[tuple[int, float]]:
        return self.assist.suggestions(image_id)

    def prefetch_suggestions(self, items: list[QueueItem]) -> None:
        self.assist.prefetch(items)

    def suspect(self, image_id: int) -> dict | None:
        """The suspect row of an image in the suspect queue (given and predicted class)."""
        if self.model is None or self.order.name != "suspects":
            return None
        return self.model.suspect_rows.get(image_id)

    @property
    def per_minute(self) -> float | None:
        return self.active.per_minute(self.events)  # labels + skips - undos; None under 30 s

    # -- the calls keys make --------------------------------------------------------------

    def label(self, class_id: int, ms_on_screen: int | None = None) -> Change:
        """Label the current image and move to the next one. Reviewing disagreements, the
        label settles the image: it is recorded as a review, the current label for all."""
        if self.order.order.source == "disagreements":
            return self._record("label", class_id, ms_on_screen, source="review")
        return self._record("label", class_id, ms_on_screen)

    def skip(self, ms_on_screen: int | None = None) -> Change:
        """Record a skip of the current image and move to the next one."""
        return self._record("skip", None, ms_on_screen)

    def accept(self, ms_on_screen: int | None = None) -> Change:
        """Label the current image with the model's top suggestion (stored as one, with its
        probability and run) and move on."""
        item = self.current
        if item is None:
            return Change(notice="Nothing to label here.")
        top = self.suggestions(item.id)
        if not top or self.model is None:
            return Change(notice="No suggestion to accept for this image.")
        class_id, probability = top[0]
        return self._record("label", class_id, ms_on_screen, source="suggestion",
                            probability=probability, run_id=self.model.run_id)

    def confirm(self, ms_on_screen: int | None = None) -> Change:
        """In the suspect queue: keep the image's label, recorded as reviewed (it leaves the
        queue), and move on."""
        item = self.current
        if item is None:
            return Change(notice="Nothing to confirm here.")
        if self.order.name != "suspects" or self.model is None:
            return Change(notice="= confirms a label in the suspect queue (] or o opens it).")
        state = self.store.current(item.id)
        if not state.labeled:
            return Change(notice="This image has no label to confirm: press a class key.")
        return self._record("label", state.class_id, ms_on_screen, source="review",
                            run_id=self.model.run_id)

    # -- multi-label mode -----------------------------------------------------------------

    def toggled(self, image_id: int, state: ImageState) -> frozenset[int]:
        """The classes toggled on an image so far: its saved set until a key changes it."""
        if self.pending_for == image_id and self.pending is not None:
            return self.pending
        return state.classes if state.labeled else frozenset()

    def toggle(self, class_id: int) -> Change:
        """Multi-label mode: add or remove a class on the image on screen (nothing is saved
        until ``commit_set``)."""
        item = self.current
        if item is None:
            return Change(notice="Nothing to label here.")
        state = self.state(item.id, item.path)
        now = self.toggled(item.id, state)
        self.pending = now - {class_id} if class_id in now else now | {class_id}
        self.pending_for = item.id
        return Change(image_id=item.id, before=state, after=state)

    def commit_set(self, ms_on_screen: int | None = None) -> Change:
        """Multi-label mode: save the toggled set (empty: none of the classes) and move on.
        Reviewing disagreements, it is recorded as a review, as ``label`` does."""
        item = self.current
        if item is None:
            return Change(notice="Nothing to label here.")
        classes = self.toggled(item.id, self.state(item.id, item.path))
        source = "review" if self.order.order.source == "disagreements" else None
        return self._record("label", None, ms_on_screen, source=source, classes=classes)

    def _record(self, action: str, class_id: int | None, ms_on_screen: int | None, *,
                source: str | None = None, probability: float | None = None,
                run_id: int | None = None, classes: frozenset[int] | None = None) -> Change:
        item = self.current
        if item is None:
            return Change(notice="Nothing to label here.")
        before = self.store.current(item.id)
        start = self.pos + 1
        with self.store.busy_timeout(self.lock_wait_ms):
            event_id, claimed = self.store.add_event_and_claim(
                item.id, action, class_id, claim=self.leases.request(self.queue, start, item.id),
                ms_on_screen=ms_on_screen, source=source, probability=probability,
                run_id=run_id, classes=classes)
        after = (ImageState(action, frozenset(classes)) if classes is not None
                 else ImageState.of(action, class_id))
        self.pending = self.pending_for = None
        self.leases.mine.add(event_id)
        self.leases.drop_taken(self.queue, start, claimed)
        self.undo_stack.append(event_id)
        self.events += 1
        self.active.note(time.monotonic())
        self.labeled_here.add(item.id)
        if action == "label":
            self.assist.labeled(item.id, new=source != "review")
        self.live.change(before, after, event_id)
        self.pos = min(self.pos + 1, len(self.queue))
        return Change(moved=True, image_id=item.id, before=before, after=after)

    def undo(self) -> Change:
        """Undo this session's last label or skip and go back to that image."""
        if not self.undo_stack:
            return Change(notice="Nothing to undo in this session.")
        try:
            with self.store.busy_timeout(self.lock_wait_ms):
                undone = self.store.undo(self.undo_stack[-1])
        except UndoConflict as exc:
            return Change(notice=str(exc))
        self.undo_stack.pop()
        self.pending = self.pending_for = None
        self.leases.mine.add(undone.event_id)
        self.events = max(self.events - 1, 0)
        self.active.note(time.monotonic())
        self.live.change(undone.before, undone.after, undone.event_id)
        index = next((i for i, it in enumerate(self.queue) if it.id == undone.image_id), None)
        if index is None:  # not in this view (the order changed since): show it here anyway
            path = self.store.image(undone.image_id)["path"]
            self.queue.insert(self.pos, QueueItem(undone.image_id, path))
            index = self.pos
        self.pos = index
        return Change(moved=True, image_id=undone.image_id, before=undone.before,
                      after=undone.after)

    def move(self, delta: int) -> Change:
        """Go back or forward without labeling (one past the end shows the end message)."""
        pos = min(max(self.pos + delta, 0), len(self.queue))
        if pos == self.pos:
            return Change()
        self.pos = pos
        return Change(moved=True)

    def set_order(self, order: OrderChoice, ranked: list[QueueItem] | None = None) -> Change:
        """Queue the images in another order, from its start. ``ranked`` is the queue when it
        was ranked in the background (a model order: images labeled in this session since are
        left out, but for a review of labels: suspects, a confusion cell). An order that
        needs a model, without one, is a notice."""
        mark = self.store.last_event_id()
        try:
            queue = self._build_queue(order) if ranked is None else ranked
        except UsageError as exc:
            return Change(notice=str(exc))
        if ranked is not None and order.order.ranks_by_model and not order.order.review:
            queue = [it for it in queue if it.id not in self.labeled_here]
        self.order = order
        self._start(queue, mark)
        return Change(moved=True)

    def cycle_order(self, step: int, start: OrderChoice | None = None) -> OrderChoice:
        """The order ``]`` (1) or ``[`` (-1) goes to from ``start`` (default: this one)."""
        return orders.cycle(start or self.order, step, has_model=self.model is not None,
                            has_disagreements=self.disagreements > 0)

    def reorder(self, model: ModelView | None, ranked: list[QueueItem] | None = None, *,
                labels_at: int | None = None) -> Change:
        """Take new predictions (a finished run, the live head). A model order is ranked again
        (``ranked``: in the background) behind the current image: the image on screen stays,
        the ones before it stay behind it, and images labeled in this session never come
        back (a review's order ranks labeled images: those the new model doubts stay)."""
        self.set_model(model, labels_at=labels_at)
        if not self.order.order.ranks_by_model:
            return Change()
        try:
            return self.rerank(self._build_queue(self.order) if ranked is None else ranked)
        except UsageError as exc:
            return Change(notice=str(exc))

    def rerank(self, ranked: list[QueueItem]) -> Change:
        """This order ranked again (a new model, typical first's pixels), as ``reorder``."""
        current = self.current
        keep = self.queue[:self.pos] + ([current] if current is not None else [])
        seen = {it.id for it in keep}
        if not self.order.order.review:  # a review keeps what the new model still doubts
            seen |= self.labeled_here
        self.queue = keep + [it for it in ranked if it.id not in seen]
        return Change(moved=current is None and self.pos < len(self.queue))

    def refresh(self, result: SyncResult) -> Change:
        """Take in a rescan: rebuild the queue and counts, keeping the current image."""
        current = self.current
        self.leases.since = self.store.last_event_id()
        self.queue = self._build_queue(self.order)
        ids = [it.id for it in self.queue]
        self.take_counts(*self.store.counts_through())
        if current is not None and current.id in ids:
            self.pos = ids.index(current.id)
            if current.id not in result.changed_ids:
                return Change()
        else:
            self.pos = min(self.pos, len(self.queue))
        return Change(moved=True)

    def take_counts(self, counts: Counts, through: int) -> bool:
        """Counts read in the background through event ``through`` (``LiveCounts.take``):
        False when they are older than the ones taken last."""
        return self.live.take(counts, through)

    def record_decodes(self, rows: list[DecodeRow]) -> None:
        """Store what decoding found (``DecodeLog.flush`` hands it), waiting as a key does."""
        with self.store.busy_timeout(self.lock_wait_ms):
            self.store.record_decodes(rows)

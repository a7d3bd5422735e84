"""A labeling session without a screen: the queue, the position, the order, the counts, the
undo stack, and the calls a key makes.

No textual and no torch. Each call that a key makes returns a ``Change`` saying what happened,
and the screen draws it. A write that fails raises ``StoreWriteError`` before anything in the
session moves: the key is simply not acknowledged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from itertools import islice
from typing import TYPE_CHECKING

from tui_label.core.hashing import in_overlap
from tui_label.core.orders import OrderChoice
from tui_label.core.types import ClassRow, Counts, ImageState, QueueItem, SyncResult
from tui_label.errors import UsageError
from tui_label.store import ClaimRequest, ClaimResult, Store, StoreWriteError, UndoConflict

if TYPE_CHECKING:
    from tui_label.assist.model_view import ModelView

# How long a key may wait for another process's write lock before it is refused: short, so
# the interface never freezes; the screen says the database is locked and waits in the back.
LOCK_WAIT_MS = 200
SUGGESTION_CACHE = 4096  # images whose suggestions are kept (looked up once, when prefetched)
# A team on one database: the image on screen and the next LEASE_AHEAD (the prefetched ones)
# are leased to this process for LEASE_SECONDS, renewed while shown; nobody else is offered them.
LEASE_AHEAD = 4
LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class Change:
    """What one session call did."""

    moved: bool = False  # the current image is another one now (or the queue changed)
    image_id: int | None = None  # the image whose state changed
    before: ImageState | None = None
    after: ImageState | None = None
    notice: str | None = None  # something to tell the user (nothing changed when set)


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
        self.lease_ahead = lease_ahead
        self.lease_seconds = lease_seconds
        self.mine: set[int] = set()  # ids of the events this session wrote
        self.queue_mark = 0  # the newest event when the queue was built
        self.disagreements = 0  # images annotators disagree on (counted in the background)
        # This session's count changes, (event id, before, after): added to background counts
        # read before them.
        self._deltas: list[tuple[int, ImageState, ImageState]] = []
        self._counts_through = 0
        self.classes: list[ClassRow] = []
        self.class_names: dict[int, str] = {}
        self.queue: list[QueueItem] = []
        self.pos = 0
        self.counts = Counts()
        self.undo_stack: list[int] = []  # event ids of this session, newest last
        self.events = 0  # labels and skips of this session, minus undos
        self.generation = 0  # bumped by every change this session makes (stale counts)
        self.started = time.monotonic()
        self._decodes: dict[int, tuple[int, int | None, int | None, str | None]] = {}
        self._recorded: set[int] = set()
        # The model: its suggestions, and what the model orders rank by (None: no model yet).
        self.model: ModelView | None = None
        self.labels_made = 0  # labels this session wrote (typed or accepted, not confirmed)
        self.labeled_here: set[int] = set()  # images labeled or skipped in this session
        self._model_base = 0  # labels newer than the model when it was taken ...
        self._model_mark = 0  # ... and ``labels_made`` then
        self._suggested: dict[int, list[tuple[int, float]]] = {}
        # Multi-label mode: class keys toggle classes of the image on screen (``pending``, for
        # image ``pending_for``) and ``commit_set`` (enter) saves the set and moves on.
        self.multi_label = store.multi_label
        self.pending: frozenset[int] | None = None
        self.pending_for: int | None = None
        self.load_classes()

    # -- reading --------------------------------------------------------------------------

    def load_classes(self) -> None:
        every = self.store.classes()
        self.classes = [c for c in every if c.hotkey]
        self.class_names = {c.id: c.name for c in every}
        self._position = {c.id: c.position for c in every}

    def load(self) -> Change:
        """Read the counts and build the queue (at start-up).

        An order that needs a model loads it now (else the model comes later, in the
        background); when it cannot be read, the default order is used and the notice says why.
        """
        self.counts, self._counts_through = self.store.counts_through()
        notice = None
        if self.order.order.needs_model and self.model is None:
            from tui_label.assist.model_view import ModelView

            try:
                self.set_model(ModelView.load(self.store))
            except UsageError as exc:
                notice = str(exc)
        self.queue_mark = self.store.last_event_id()
        try:
            self.queue = self._build_queue(self.order)
        except UsageError as exc:
            notice = notice or str(exc)
            self.order = OrderChoice()
            self.queue = self._build_queue(self.order)
        self.pos = 0
        self.claim_here()
        return Change(moved=True, notice=notice)

    def _build_queue(self, order: OrderChoice) -> list[QueueItem]:
        return order.rank(self.store.rows_for(order.order.source, self.overlap), self.model)

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
        return [(who, self.names(classes)) for who, classes in self.store.opinions(image_id)]

    def names(self, class_ids) -> str:
        """Class names of a set, in the legend's order (``none`` for the empty set)."""
        if not class_ids:
            return "none"
        return ", ".join(self.class_names.get(c, "?") for c in sorted(
            class_ids, key=lambda c: (self._position.get(c, 1 << 30), c)))

    # -- leases ---------------------------------------------------------------------------

    def _claim_request(self, start: int, release: int | None = None) -> ClaimRequest:
        return ClaimRequest(islice(self.queue, start, None), self.lease_ahead + 1,
                            since=self.queue_mark, mine=self.mine, overlap=self.overlap,
                            ttl=self.lease_seconds, release=release)

    def _drop_taken(self, start: int, result: ClaimResult) -> None:
        """Leave the images someone else has out of the queue (they are among the
        ``result.scanned`` from ``start``)."""
        if result.taken:
            taken = set(result.taken)
            end = start + result.scanned
            self.queue[start:end] = [it for it in self.queue[start:end] if it.id not in taken]

    def claim_here(self) -> bool:
        """Lease the current image and the next ones (a new queue: start-up, another order),
        leaving out those someone else has. False when the write failed (then the background
        renewal tries again; nothing else changes)."""
        try:
            with self.store.busy_timeout(self.lock_wait_ms):
                result = self.store.claim(self._claim_request(self.pos))
        except StoreWriteError:
            return False
        self._drop_taken(self.pos, result)
        return True

    def lease_window(self) -> list[int]:
        """The images this session holds leases on: the current one and the next
        ``lease_ahead`` (none in the overlap share)."""
        window = self.queue[self.pos:self.pos + self.lease_ahead + 1]
        return [it.id for it in window if not in_overlap(it.path, self.overlap)]

    def state_text(self, state: ImageState) -> str:
        """``unlabeled``, ``skipped`` or ``→ cat`` (plain text: class names are user data)."""
        if state.skipped:
            return "skipped"
        if state.labeled:
            return "→ " + self.names(state.classes)
        return "unlabeled"

    def label_text(self, image_id: int, state: ImageState) -> str:
        """The status line's label: ``state_text``, and in multi-label mode the toggled set
        while it differs from the saved one."""
        text = self.state_text(state)
        if not self.multi_label:
            return text
        toggled = self.toggled(image_id, state)
        if state.labeled and toggled == state.classes:
            return text
        if not toggled and not state.labeled:
            return f"{text} · class keys toggle, ⏎ saves"
        return f"{text} · toggled: {self.names(toggled)} (⏎ saves)"

    def describe_order(self) -> str:
        """The order, and for a model order the model it ranks by (``least confident · run
        3``)."""
        text = self.order.describe(self.class_names)
        if self.order.order.needs_model and self.model is not None:
            text += f" · {self.model.source()}"
        return text

    # -- the model ------------------------------------------------------------------------

    def set_model(self, model: ModelView | None, *, labels_at: int | None = None) -> None:
        """Take a (new) model. ``labels_at`` is ``labels_made`` when its labels were read (a
        live head fit on every label then is newer than none of them)."""
        self.model = model
        self._suggested.clear()
        if labels_at is None:
            self._model_base, self._model_mark = (model.labels_before if model else 0,
                                                  self.labels_made)
        else:
            self._model_base, self._model_mark = 0, labels_at

    @property
    def newer_labels(self) -> int:
        """Labels written since the model's predictions (or the live head's fit)."""
        return self._model_base + self.labels_made - self._model_mark

    def suggestions(self, image_id: int) -> list[tuple[int, float]]:
        """The model's top classes for an image (empty without a model or a prediction)."""
        if self.model is None:
            return []
        got = self._suggested.get(image_id)
        if got is None:
            if len(self._suggested) >= SUGGESTION_CACHE:
                self._suggested.clear()
            got = self._suggested[image_id] = self.model.suggestions(image_id)
        return got

    def prefetch_suggestions(self, items: list[QueueItem]) -> None:
        """Look the suggestions of the images ahead up now, not when their key comes."""
        for item in items:
            self.suggestions(item.id)

    def suspect(self, image_id: int) -> dict | None:
        """The suspect row of an image in the suspect queue (given and predicted class)."""
        if self.model is None or self.order.name != "suspects":
            return None
        return self.model.suspect_rows.get(image_id)

    @property
    def per_minute(self) -> float:
        return self.events / (max(time.monotonic() - self.started, 1.0) / 60)

    def end_message(self) -> str:
        if not self.queue:
            return "No images in this view.\n\npress o to choose another, q to quit"
        return (f"End of this view: {self.counts.remaining} image(s) left unlabeled.\n\n"
                "← goes back · o chooses another view · q quits (labels are saved)")

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
                item.id, action, class_id, claim=self._claim_request(start, release=item.id),
                ms_on_screen=ms_on_screen, source=source, probability=probability,
                run_id=run_id, classes=classes)
        after = (ImageState(action, frozenset(classes)) if classes is not None
                 else ImageState.of(action, class_id))
        self.pending = self.pending_for = None
        self.mine.add(event_id)
        self._drop_taken(start, claimed)
        self.undo_stack.append(event_id)
        self.events += 1
        self.labeled_here.add(item.id)
        if action == "label" and source != "review":
            self.labels_made += 1
        if self.model is not None and action == "label":
            self.model = self.model.resolved(item.id)  # relabeled or confirmed: not a suspect
        self._count(before, after, event_id)
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
        self.mine.add(undone.event_id)
        self.events = max(self.events - 1, 0)
        self._count(undone.before, undone.after, undone.event_id)
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
        if ranked is not None and order.order.needs_model and not order.order.review:
            queue = [it for it in queue if it.id not in self.labeled_here]
        self.order = order
        self.queue = queue
        self.queue_mark = mark
        self.pos = 0
        self.claim_here()
        return Change(moved=True)

    def cycle_order(self, step: int, start: OrderChoice | None = None) -> OrderChoice:
        """The order ``]`` (1) or ``[`` (-1) goes to from ``start`` (default: this one)."""
        from tui_label.core import orders

        return orders.cycle(start or self.order, step, has_model=self.model is not None,
                            has_disagreements=self.disagreements > 0)

    def reorder(self, model: ModelView | None, ranked: list[QueueItem] | None = None, *,
                labels_at: int | None = None) -> Change:
        """Take new predictions (a finished run, the live head). A model order is ranked again
        (``ranked``: in the background) behind the current image: the image on screen stays,
        the ones before it stay behind it, and images labeled in this session never come
        back (a review's order ranks labeled images: those the new model doubts stay)."""
        self.set_model(model, labels_at=labels_at)
        if not self.order.order.needs_model:
            return Change()
        if ranked is None:
            try:
                ranked = self._build_queue(self.order)
            except UsageError as exc:
                return Change(notice=str(exc))
        current = self.current
        keep = self.queue[:self.pos] + ([current] if current is not None else [])
        seen = {it.id for it in keep}
        if not self.order.order.review:  # a review keeps what the new model still doubts
            seen |= self.labeled_here
        self.queue = keep + [it for it in ranked if it.id not in seen]
        return Change(moved=current is None and self.pos < len(self.queue))

    def refresh(self, result: SyncResult) -> Change:
        """Take in a rescan: rebuild the queue and counts, keeping the current image."""
        for image_id in result.changed_ids:
            self._recorded.discard(image_id)  # its new decode status must be stored
        current = self.current
        self.queue_mark = self.store.last_event_id()
        self.queue = self._build_queue(self.order)
        ids = [it.id for it in self.queue]
        self.take_counts(*self.store.counts_through())
        self.generation += 1
        if current is not None and current.id in ids and current.id not in result.changed_ids:
            self.pos = ids.index(current.id)
            return Change()
        if current is not None and current.id in ids:
            self.pos = ids.index(current.id)
        else:
            self.pos = min(self.pos, len(self.queue))
        return Change(moved=True)

    def take_counts(self, counts: Counts, through: int) -> bool:
        """Counts read in the background (every labeler's work) through event ``through``:
        this session's own changes written after it are added on top, so fast keys never
        make them stale. Counts older than the ones taken last are dropped."""
        if through < self._counts_through:
            return False
        self._deltas = [d for d in self._deltas if d[0] > through]
        counts = replace(counts, per_class=dict(counts.per_class))  # the caller's stays as read
        for _event, before, after in self._deltas:
            _shift(counts, before, after)
        self.counts = counts
        self._counts_through = through
        return True

    def _count(self, before: ImageState, after: ImageState, event_id: int) -> None:
        """Keep the counts in step with one image's change of state."""
        self.generation += 1
        self._deltas.append((event_id, before, after))
        _shift(self.counts, before, after)

    # -- what decoding found --------------------------------------------------------------

    def note_decoded(self, image_id: int, width: int | None, height: int | None,
                     error: str | None) -> None:
        """Remember what decoding found out about an image, to store it later in one write."""
        if image_id not in self._recorded:
            self._recorded.add(image_id)
            self._decodes[image_id] = (image_id, width, height, error)

    def flush_decodes(self) -> None:
        """Store what decoding found; on a failed write it is kept for the next try."""
        if not self._decodes:
            return
        pending = list(self._decodes.values())
        with self.store.busy_timeout(self.lock_wait_ms):
            self.store.record_decodes(pending)
        for row in pending:
            self._decodes.pop(row[0], None)


def _shift(counts: Counts, before: ImageState, after: ImageState) -> None:
    """Move one image's state in ``counts`` from ``before`` to ``after``."""
    for state, sign in ((before, -1), (after, 1)):
        if state.skipped:
            counts.skipped += sign
        elif state.labeled:
            counts.labeled += sign
            for class_id in state.classes:
                n = counts.per_class.get(class_id, 0) + sign
                if n:
                    counts.per_class[class_id] = n
                else:
                    counts.per_class.pop(class_id, None)

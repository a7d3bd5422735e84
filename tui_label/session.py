"""A labeling session without a screen: the queue, the position, the order, the counts, the
undo stack, and the calls a key makes.

No textual and no torch. Each call that a key makes returns a ``Change`` saying what happened,
and the screen draws it. A write that fails raises ``StoreWriteError`` before anything in the
session moves: the key is simply not acknowledged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui_label.errors import UsageError
from tui_label.orders import OrderChoice, QueueItem
from tui_label.store import (
    ClassRow,
    Counts,
    ImageState,
    Store,
    SyncResult,
    UndoConflict,
)

if TYPE_CHECKING:
    from tui_label.model import ModelView

# How long a key may wait for another process's write lock before it is refused: short, so
# the interface never freezes; the screen says the database is locked and waits in the back.
LOCK_WAIT_MS = 200
SUGGESTION_CACHE = 4096  # images whose suggestions are kept (looked up once, when prefetched)


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
    """

    def __init__(self, store: Store, order: OrderChoice | None = None, *,
                 lock_wait_ms: int = LOCK_WAIT_MS) -> None:
        self.store = store
        self.order = order or OrderChoice()
        self.lock_wait_ms = lock_wait_ms
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
        self.load_classes()

    # -- reading --------------------------------------------------------------------------

    def load_classes(self) -> None:
        every = self.store.classes()
        self.classes = [c for c in every if c.hotkey]
        self.class_names = {c.id: c.name for c in every}

    def load(self) -> Change:
        """Read the counts and build the queue (at start-up).

        An order that needs a model loads it now (else the model comes later, in the
        background); when it cannot be read, the default order is used and the notice says why.
        """
        self.counts = self.store.counts()
        notice = None
        if self.order.order.needs_model and self.model is None:
            from tui_label.model import ModelView

            try:
                self.set_model(ModelView.load(self.store))
            except UsageError as exc:
                notice = str(exc)
        try:
            self.queue = self.store.queue(self.order, model=self.model)
        except UsageError as exc:
            notice = notice or str(exc)
            self.order = OrderChoice()
            self.queue = self.store.queue(self.order)
        self.pos = 0
        return Change(moved=True, notice=notice)

    @property
    def current(self) -> QueueItem | None:
        return self.queue[self.pos] if 0 <= self.pos < len(self.queue) else None

    def ahead(self, n: int) -> list[QueueItem]:
        """The next ``n`` images and the previous one: what to prefetch."""
        offsets = (*range(1, n + 1), -1)
        return [self.queue[self.pos + k] for k in offsets if 0 <= self.pos + k < len(self.queue)]

    def state(self, image_id: int) -> ImageState:
        return self.store.current(image_id)

    def state_text(self, state: ImageState) -> str:
        """``unlabeled``, ``skipped`` or ``→ cat`` (plain text: class names are user data)."""
        if state.skipped:
            return "skipped"
        if state.labeled:
            return "→ " + ", ".join(self.class_names.get(c, "?") for c in sorted(state.classes))
        return "unlabeled"

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
        """Label the current image and move to the next one."""
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

    def _record(self, action: str, class_id: int | None, ms_on_screen: int | None, *,
                source: str | None = None, probability: float | None = None,
                run_id: int | None = None) -> Change:
        item = self.current
        if item is None:
            return Change(notice="Nothing to label here.")
        before = self.store.current(item.id)
        with self.store.busy_timeout(self.lock_wait_ms):
            event_id = self.store.add_event(item.id, action, class_id, ms_on_screen=ms_on_screen,
                                            source=source, probability=probability,
                                            run_id=run_id)
        after = ImageState.of(action, class_id)
        self.undo_stack.append(event_id)
        self.events += 1
        self.labeled_here.add(item.id)
        if action == "label" and source != "review":
            self.labels_made += 1
        if self.model is not None and action == "label":
            self.model = self.model.resolved(item.id)  # relabeled or confirmed: not a suspect
        self._count(before, after)
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
        self.events = max(self.events - 1, 0)
        self._count(undone.before, undone.after)
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
        left out). An order that needs a model, without one, is a notice."""
        try:
            queue = self.store.queue(order, model=self.model) if ranked is None else ranked
        except UsageError as exc:
            return Change(notice=str(exc))
        if ranked is not None and order.order.needs_model:
            queue = [it for it in queue if it.id not in self.labeled_here]
        self.order = order
        self.queue = queue
        self.pos = 0
        return Change(moved=True)

    def cycle_order(self, step: int, start: OrderChoice | None = None) -> OrderChoice:
        """The order ``]`` (1) or ``[`` (-1) goes to from ``start`` (default: this one)."""
        from tui_label import orders

        return orders.cycle(start or self.order, step, has_model=self.model is not None)

    def reorder(self, model: ModelView | None, ranked: list[QueueItem] | None = None, *,
                labels_at: int | None = None) -> Change:
        """Take new predictions (a finished run, the live head). A model order is ranked again
        (``ranked``: in the background) behind the current image: the image on screen stays,
        the ones before it stay behind it, and images labeled in this session never come
        back."""
        self.set_model(model, labels_at=labels_at)
        if not self.order.order.needs_model:
            return Change()
        if ranked is None:
            try:
                ranked = self.store.queue(self.order, model=model)
            except UsageError as exc:
                return Change(notice=str(exc))
        current = self.current
        keep = self.queue[:self.pos] + ([current] if current is not None else [])
        seen = {it.id for it in keep} | self.labeled_here
        self.queue = keep + [it for it in ranked if it.id not in seen]
        return Change(moved=current is None and self.pos < len(self.queue))

    def refresh(self, result: SyncResult) -> Change:
        """Take in a rescan: rebuild the queue and counts, keeping the current image."""
        for image_id in result.changed_ids:
            self._recorded.discard(image_id)  # its new decode status must be stored
        current = self.current
        self.queue = self.store.queue(self.order, model=self.model)
        ids = [it.id for it in self.queue]
        self.counts = self.store.counts()
        self.generation += 1
        if current is not None and current.id in ids and current.id not in result.changed_ids:
            self.pos = ids.index(current.id)
            return Change()
        if current is not None and current.id in ids:
            self.pos = ids.index(current.id)
        else:
            self.pos = min(self.pos, len(self.queue))
        return Change(moved=True)

    def take_counts(self, counts: Counts, generation: int) -> bool:
        """Counts read in the background; kept unless this session changed a label since."""
        if generation != self.generation:
            return False
        self.counts = counts
        return True

    def _count(self, before: ImageState, after: ImageState) -> None:
        """Keep the counts in step with one image's change of state."""
        self.generation += 1
        for state, sign in ((before, -1), (after, 1)):
            if state.skipped:
                self.counts.skipped += sign
            elif state.labeled:
                self.counts.labeled += sign
                for class_id in state.classes:
                    n = self.counts.per_class.get(class_id, 0) + sign
                    if n:
                        self.counts.per_class[class_id] = n
                    else:
                        self.counts.per_class.pop(class_id, None)

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

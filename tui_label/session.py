"""A labeling session without a screen: the queue, the position, the order, the counts, the
undo stack, and the calls a key makes.

No textual and no torch. Each call that a key makes returns a ``Change`` saying what happened,
and the screen draws it. A write that fails raises ``StoreWriteError`` before anything in the
session moves: the key is simply not acknowledged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tui_label.orders import OrderChoice, QueueItem
from tui_label.store import (
    ClassRow,
    Counts,
    ImageState,
    Store,
    SyncResult,
    UndoConflict,
)

# How long a key may wait for another process's write lock before it is refused: short, so
# the interface never freezes; the screen says the database is locked and waits in the back.
LOCK_WAIT_MS = 200


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
        self.load_classes()

    # -- reading --------------------------------------------------------------------------

    def load_classes(self) -> None:
        every = self.store.classes()
        self.classes = [c for c in every if c.hotkey]
        self.class_names = {c.id: c.name for c in every}

    def load(self) -> None:
        """Read the counts and build the queue (at start-up)."""
        self.counts = self.store.counts()
        self.queue = self.store.queue(self.order)
        self.pos = 0

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
        return self.order.describe(self.class_names)

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

    def _record(self, action: str, class_id: int | None, ms_on_screen: int | None) -> Change:
        item = self.current
        if item is None:
            return Change(notice="Nothing to label here.")
        before = self.store.current(item.id)
        with self.store.busy_timeout(self.lock_wait_ms):
            event_id = self.store.add_event(item.id, action, class_id, ms_on_screen=ms_on_screen)
        after = ImageState.of(action, class_id)
        self.undo_stack.append(event_id)
        self.events += 1
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

    def set_order(self, order: OrderChoice) -> Change:
        """Queue the images in another order, from its start."""
        self.order = order
        self.queue = self.store.queue(order)
        self.pos = 0
        return Change(moved=True)

    def refresh(self, result: SyncResult) -> Change:
        """Take in a rescan: rebuild the queue and counts, keeping the current image."""
        for image_id in result.changed_ids:
            self._recorded.discard(image_id)  # its new decode status must be stored
        current = self.current
        self.queue = self.store.queue(self.order)
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

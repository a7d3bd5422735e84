"""The labeling screen: one image, one key per class, every key saved at once."""

from __future__ import annotations

import gc
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from tui_label.images import Decoded, Geometry, Prefetcher
from tui_label.keys import BINDINGS
from tui_label.scan import scan
from tui_label.screens.help import HelpScreen
from tui_label.screens.order import OrderScreen
from tui_label.screens.training import TrainerEvent, TrainingController
from tui_label.store import ClassRow, Counts, QueueItem, Store, SyncResult, UndoConflict
from tui_label.widgets.image_view import ImageView
from tui_label.widgets.legend import Legend
from tui_label.widgets.picture import Renderer
from tui_label.widgets.status import StatusBar, StatusInfo
from tui_label.widgets.train_panel import TrainPanel

PREFETCH_AHEAD = 4
REFRESH_SECONDS = 5.0
IDLE_GC_SECONDS = 3.0


@dataclass
class Painted:
    """One image that reached the screen: used by the latency benchmark and tests."""

    image_id: int
    action_time: float  # perf_counter() when the key's action ran
    painted_time: float  # perf_counter() after the refresh that drew it


class LabelScreen(Screen):
    """Shows one image at a time; class hotkeys label it and move on."""

    AUTO_FOCUS = None  # keys belong to labeling until the user tabs into the panel

    BINDINGS = [Binding(s.keys, s.action, s.description, show=s.show, key_display=s.display)
                for s in BINDINGS]

    class Decoded(Message):
        """A decode finished on a worker thread."""

        def __init__(self, image_id: int) -> None:
            super().__init__()
            self.image_id = image_id

    class ScanDone(Message):
        """The background rescan synced the images table."""

        def __init__(self, result: SyncResult) -> None:
            super().__init__()
            self.result = result

    class CountsRefreshed(Message):
        """Fresh counts from the database (other labelers' work included)."""

        def __init__(self, counts: Counts, generation: int) -> None:
            super().__init__()
            self.counts = counts
            self.generation = generation  # the screen's change counter when counting began

    def __init__(
        self,
        store: Store,
        root: Path,
        renderer: Renderer,
        *,
        order: tuple[str, int | None] = ("unlabeled", None),
        rescan: bool = True,
        prefetcher: Prefetcher | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.root = root
        self.renderer = renderer
        self.order = order
        self.rescan = rescan
        self.prefetcher = prefetcher or Prefetcher()
        if self.prefetcher.prepare is None:
            self.prefetcher.prepare = renderer.prepare  # strips / sixels off the UI thread
        self.label_classes: list[ClassRow] = []
        self.queue: list[QueueItem] = []
        self.pos = 0
        self.counts = Counts()
        self.shown_id: int | None = None  # the image drawn on screen now; keys label this one
        self._displayed_id: int | None = None  # handed to the view, maybe not drawn yet
        self.shown_at = 0.0
        self.undo_stack: list[int] = []  # event ids this session, newest last
        self.session_events = 0
        self.session_start = time.monotonic()
        self.painted: deque[Painted] = deque(maxlen=5000)
        self._action_time = 0.0  # perf_counter() of the last key's action
        self._gc_taken = False
        self._count_gen = 0  # bumped by every label, skip and undo of this screen
        self._idle_collected = False
        self._pending_decodes: list[tuple[int, int | None, int | None, str | None]] = []
        self._recorded: set[int] = set()
        self._load_classes()
        self.training = TrainingController(self)

    # -- setup ----------------------------------------------------------------------------

    def _load_classes(self) -> None:
        every = self.store.classes()
        self.class_names = {c.id: c.name for c in every}
        self.label_classes = [c for c in every if c.hotkey]
        for row in self.label_classes:
            self._bindings.bind(row.hotkey, f"label({row.id})", row.name, show=False)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield ImageView(self.renderer, id="image")
            yield TrainPanel(id="train-panel")
        yield Legend(id="legend")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TrainPanel).display = False
        self.training.attach()
        self.counts = self.store.counts()
        self.queue = self.store.queue(*self.order)
        self.set_interval(REFRESH_SECONDS, self._refresh_periodically)
        self.call_after_refresh(self.show_current)

    # -- training -------------------------------------------------------------------------

    def action_toggle_training(self) -> None:
        panel = self.query_one(TrainPanel)
        panel.display = not panel.display
        if panel.display:
            panel.show_state(self.training.state, force=True)
        self.call_after_refresh(self.show_current)  # the image area changed size

    def action_start_stop_training(self) -> None:
        panel = self.query_one(TrainPanel)
        if not panel.display:
            self.action_toggle_training()
        panel.toggle_run()

    @on(TrainPanel.StartRequested)
    def _start_training(self, message: TrainPanel.StartRequested) -> None:
        self.training.start(message.settings)

    @on(TrainPanel.StopRequested)
    def _stop_training(self) -> None:
        self.training.stop()

    @on(TrainerEvent)
    def _trainer_event(self, message: TrainerEvent) -> None:
        self.training.on_event(message.event)

    def on_unmount(self) -> None:
        if self._gc_taken:
            gc.unfreeze()
            gc.enable()
        self._flush_decodes()
        self.prefetcher.close()

    # -- showing images -------------------------------------------------------------------

    @property
    def current(self) -> QueueItem | None:
        return self.queue[self.pos] if 0 <= self.pos < len(self.queue) else None

    def _geometry(self) -> Geometry | None:
        return self.query_one(ImageView).geometry()

    def _request(self, item: QueueItem, geometry: Geometry) -> Future[Decoded]:
        return self.prefetcher.request(item.id, self.root / item.path, geometry)

    def show_current(self) -> None:
        """Put the current queue item on screen (or ask for it) and prefetch around it."""
        view = self.query_one(ImageView)
        self.shown_id = None
        self._displayed_id = None
        item = self.current
        geometry = self._geometry()
        if item is None:
            view.show_message(self._end_message())
        elif geometry is not None:
            future = self._request(item, geometry)
            if future.done():
                self._display(item, future.result())  # prefetch once it is drawn
            else:
                view.show_message(f"loading {item.path} …")
                image_id = item.id
                future.add_done_callback(lambda _f: self.post_message(self.Decoded(image_id)))
                self._prefetch_around(geometry)
        self._update_status()

    def _prefetch_around(self, geometry: Geometry | None = None) -> None:
        """Decode the next few images and the previous one in the background.

        Called after the current image is drawn, not before: preparing strips or sixels holds
        Python's GIL for milliseconds, which would otherwise delay drawing this one.
        """
        geometry = geometry or self._geometry()
        if geometry is None:
            return
        for offset in (*range(1, PREFETCH_AHEAD + 1), -1):
            j = self.pos + offset
            if 0 <= j < len(self.queue):
                self._request(self.queue[j], geometry)

    def _display(self, item: QueueItem, decoded: Decoded) -> None:
        view = self.query_one(ImageView)
        self._displayed_id = item.id
        if decoded.error:
            view.show_message(f"⚠ cannot show {item.path}\n{decoded.error}\n\n"
                              "label or skip it with the usual keys")
        else:
            view.show_image(decoded)
        if item.id not in self._recorded:
            self._recorded.add(item.id)
            self._pending_decodes.append((item.id, decoded.width or None,
                                          decoded.height or None, decoded.error))
        action_time = self._action_time
        self.call_after_refresh(self._painted, item.id, action_time)

    def _painted(self, image_id: int, action_time: float) -> None:
        """The refresh that draws ``image_id`` is done: from now on keys label it."""
        item = self.current
        if item is None or item.id != image_id:
            return  # the user moved on before it was drawn
        first = not self.painted
        self.shown_id = image_id
        self.shown_at = time.monotonic()
        self.painted.append(Painted(image_id, action_time, time.perf_counter()))
        self._prefetch_around()
        if first:
            self._take_over_gc()
            if self.rescan:
                self._rescan()

    def _take_over_gc(self) -> None:
        """Keep garbage collection out of the key-to-image path.

        Python's automatic full collections took 60-200 ms at random keypresses. Instead:
        the objects made at start-up are frozen out of collection, young objects are
        collected every second (a few ms), and a full collection runs only when no key has
        come for a while. Most objects here are acyclic and freed by reference counting.
        """
        gc.freeze()
        gc.disable()
        self._gc_taken = True
        self.set_interval(1.0, self._collect_garbage)

    def _collect_garbage(self) -> None:
        idle = time.perf_counter() - self._action_time > IDLE_GC_SECONDS
        if idle and not self._idle_collected:
            gc.unfreeze()  # objects dropped since the last freeze are collectable again
            gc.collect()
            gc.freeze()
            self._idle_collected = True
        elif not idle:
            gc.collect(1)
            self._idle_collected = False

    @on(Decoded)
    def _on_decoded(self, message: LabelScreen.Decoded) -> None:
        item, geometry = self.current, self._geometry()
        if item is None or item.id != message.image_id or geometry is None:
            return  # the user moved on meanwhile
        future = self._request(item, geometry)
        if future.done() and self._displayed_id != item.id:
            self._display(item, future.result())
            self._update_status()

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_current)

    def _end_message(self) -> str:
        if not self.queue:
            return "No images in this view.\n\npress o to choose another, q to quit"
        return (f"End of this view: {self.counts.remaining} image(s) left unlabeled.\n\n"
                "← goes back · o chooses another view · q quits (labels are saved)")

    # -- status ---------------------------------------------------------------------------

    def _label_text(self, state: tuple[str, int | None] | None) -> str:
        if state is None or state[0] == "clear":
            return "unlabeled"
        if state[0] == "skip":
            return "skipped"
        return "→ " + self.class_names.get(state[1], "?")

    def _update_status(self) -> None:
        item = self.current
        state = self.store.current(item.id) if item is not None else None
        current_class = state[1] if state and state[0] == "label" else None
        minutes = max(time.monotonic() - self.session_start, 1.0) / 60
        order = self.order[0] if self.order[0] != "class" else "class " + next(
            (c.name for c in self.label_classes if c.id == self.order[1]), "?")
        self.query_one(StatusBar).show(StatusInfo(
            position=min(self.pos + 1, len(self.queue)),
            queue_length=len(self.queue),
            counts=self.counts,
            per_minute=self.session_events / minutes,
            path=item.path if item else "",
            label=self._label_text(state) if item else "",
            order=order,
        ))
        self.query_one(Legend).show(self.label_classes, self.counts.per_class, current_class)

    def _apply_change(self, before: tuple[str, int | None] | None,
                      after: tuple[str, int | None] | None) -> None:
        """Keep the in-memory counts in step with one image's change of state."""
        for state, sign in ((before, -1), (after, 1)):
            if state is None or state[0] == "clear":
                continue
            if state[0] == "skip":
                self.counts.skipped += sign
            else:
                self.counts.labeled += sign
                n = self.counts.per_class.get(state[1], 0) + sign
                if n:
                    self.counts.per_class[state[1]] = n
                else:
                    self.counts.per_class.pop(state[1], None)

    # -- actions --------------------------------------------------------------------------

    def _act_on_shown(self, action: str, class_id: int | None = None) -> None:
        self._action_time = time.perf_counter()
        item = self.current
        if item is None or self.shown_id != item.id:
            # The next image is not on screen yet: never label what nobody has seen.
            self.app.bell()
            return
        before = self.store.current(item.id)
        ms = int((time.monotonic() - self.shown_at) * 1000)
        event_id = self.store.add_event(item.id, action, class_id, ms_on_screen=ms)
        self._count_gen += 1
        self.undo_stack.append(event_id)
        self.session_events += 1
        self._apply_change(before, (action, class_id))
        self.pos = min(self.pos + 1, len(self.queue))
        self.show_current()

    def action_label(self, class_id: int) -> None:
        self._act_on_shown("label", class_id)

    def action_skip(self) -> None:
        self._act_on_shown("skip")

    def action_undo(self) -> None:
        self._action_time = time.perf_counter()
        if not self.undo_stack:
            self.notify("Nothing to undo in this session.", timeout=2)
            return
        try:
            undone = self.store.undo(self.undo_stack[-1])
        except UndoConflict as exc:
            self.notify(str(exc), severity="warning", timeout=4)
            return
        self.undo_stack.pop()
        self._count_gen += 1
        image_id = undone.image_id
        self._apply_change(undone.before, undone.after)
        self.session_events = max(self.session_events - 1, 0)
        index = next((i for i, it in enumerate(self.queue) if it.id == image_id), None)
        if index is None:  # not in this view (order changed since): show it here anyway
            row = self.store.image(image_id)
            self.queue.insert(self.pos, QueueItem(image_id, row["path"]))
            index = self.pos
        self.pos = index
        self.show_current()

    def action_previous(self) -> None:
        self._action_time = time.perf_counter()
        if self.pos > 0:
            self.pos -= 1
            self.show_current()

    def action_next(self) -> None:
        self._action_time = time.perf_counter()
        if self.pos < len(self.queue):
            self.pos += 1
            self.show_current()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.label_classes))

    def action_choose_order(self) -> None:
        def chosen(order: tuple[str, int | None] | None) -> None:
            if order is not None:
                self.set_order(order)

        self.app.push_screen(OrderScreen(self.label_classes), chosen)

    def set_order(self, order: tuple[str, int | None]) -> None:
        self.order = order
        self.queue = self.store.queue(*order)
        self.pos = 0
        self.show_current()

    async def action_quit(self) -> None:
        self._flush_decodes()
        self.app.exit()

    # -- background work ------------------------------------------------------------------

    def _flush_decodes(self) -> None:
        pending, self._pending_decodes = self._pending_decodes, []
        self.store.record_decodes(pending)

    def _refresh_periodically(self) -> None:
        self._flush_decodes()
        self._count_in_thread(self._count_gen)

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False)
    def _count_in_thread(self, generation: int) -> None:
        store = Store(self.store.path)  # one connection per thread
        try:
            self.post_message(self.CountsRefreshed(store.counts(), generation))
        finally:
            store.close()

    @on(CountsRefreshed)
    def _on_counts(self, message: LabelScreen.CountsRefreshed) -> None:
        if message.generation != self._count_gen:
            return  # this screen changed a label while counting ran: its own counts are newer
        self.counts = message.counts
        self._update_status()

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def _rescan(self) -> None:
        store = Store(self.store.path)
        try:
            self.post_message(self.ScanDone(store.sync_images(scan(self.root))))
        finally:
            store.close()

    @on(ScanDone)
    def _on_scan_done(self, message: LabelScreen.ScanDone) -> None:
        r = message.result
        if not (r.added or r.missing or r.changed or r.returned):
            return
        current = self.current
        self.queue = self.store.queue(*self.order)
        ids = [it.id for it in self.queue]
        self.pos = ids.index(current.id) if current and current.id in ids else min(
            self.pos, len(self.queue))
        self.counts = self.store.counts()
        self.notify(f"Rescan: {r.added} new, {r.changed} changed, {r.missing} missing.",
                    timeout=4)
        if current is None or current.id not in ids:
            self.show_current()
        else:
            self._update_status()

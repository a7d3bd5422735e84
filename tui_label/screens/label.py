"""The labeling screen: one image, one key per class, every key saved at once.

The screen draws and maps keys to ``LabelSession`` calls; the session decides. The screen keeps
the layout, the paint gating (a key labels only an image that has been drawn) and the workers.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState, get_current_worker

from tui_label import background
from tui_label.images import Decoded, Geometry, Prefetcher
from tui_label.keys import BINDINGS
from tui_label.orders import OrderChoice, QueueItem
from tui_label.quiet_gc import QuietGC
from tui_label.screens.help import HelpScreen
from tui_label.screens.messages import CountsRefreshed, ImageDecoded, ScanDone, WriteLockFree
from tui_label.screens.metrics import MetricsScreen
from tui_label.screens.order import OrderScreen
from tui_label.screens.training import RunUpdated, TrainerEvent, TrainingController
from tui_label.session import Change, LabelSession
from tui_label.store import Store, StoreWriteError
from tui_label.widgets.alert import Alert
from tui_label.widgets.image_view import ImageView
from tui_label.widgets.legend import Legend
from tui_label.widgets.picture import Renderer
from tui_label.widgets.status import StatusBar, StatusInfo
from tui_label.widgets.train_panel import TrainPanel

PREFETCH_AHEAD = 4
REFRESH_SECONDS = 5.0
NOT_SAVED = {"label": "this label was not saved", "skip": "this skip was not saved",
             "undo": "nothing was undone"}


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

    def __init__(self, store: Store, root: Path, renderer: Renderer, *,
                 order: OrderChoice | None = None, rescan: bool = True,
                 prefetcher: Prefetcher | None = None) -> None:
        super().__init__()
        self.store = store
        self.root = root
        self.renderer = renderer
        self.rescan = rescan
        self.session = LabelSession(store, order)
        self.prefetcher = prefetcher or Prefetcher()
        if self.prefetcher.prepare is None:
            self.prefetcher.prepare = renderer.prepare  # strips / sixels off the UI thread
        self.shown_id: int | None = None  # the image drawn on screen now; keys label this one
        self._displayed_id: int | None = None  # handed to the view, maybe not drawn yet
        self.shown_at = 0.0
        self.painted: deque[Painted] = deque(maxlen=5000)
        self._action_time = 0.0  # perf_counter() of the last key's action
        self._gc = QuietGC()
        self._locked = False  # a key met another process's lock: keys wait for it
        for row in self.session.classes:
            self._bindings.bind(row.hotkey, f"label({row.id})", row.name, show=False)
        self.training = TrainingController(store.path, root, post=self.post_message,
                                           notify=self.notify, set_interval=self.set_interval)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield ImageView(self.renderer, id="image")
            yield TrainPanel(id="train-panel")
        yield Alert(id="alert")
        yield Legend(id="legend")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TrainPanel).display = False
        self.training.attach()
        self.session.load()
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

    @on(RunUpdated)
    def _run_updated(self, message: RunUpdated) -> None:
        panel = self.query_one(TrainPanel)
        if panel.display:
            panel.show_state(message.state)

    def action_show_metrics(self) -> None:
        self.app.push_screen(MetricsScreen(self.training.state))

    def on_unmount(self) -> None:
        self.training.close()
        self._gc.release()
        self._flush_decodes()
        self.prefetcher.close()

    # -- showing images -------------------------------------------------------------------

    @property
    def current(self) -> QueueItem | None:
        return self.session.current

    def _geometry(self) -> Geometry | None:
        return self.query_one(ImageView).geometry()

    def _request(self, item: QueueItem, geometry: Geometry) -> Future[Decoded]:
        return self.prefetcher.request(item.id, self.root / item.path, geometry)

    def show_current(self) -> None:
        """Put the current queue item on screen (or ask for it) and prefetch around it."""
        view = self.query_one(ImageView)
        self.shown_id = self._displayed_id = None
        item, geometry = self.current, self._geometry()
        if item is None:
            view.show_message(self.session.end_message())
        elif geometry is not None:
            future = self._request(item, geometry)
            if future.done():
                self._display(item, future.result())  # prefetch once it is drawn
            else:
                view.show_message(f"loading {item.path} …")
                image_id = item.id
                future.add_done_callback(lambda _f: self.post_message(ImageDecoded(image_id)))
                self._prefetch_around(geometry)
        self._update_status()

    def _prefetch_around(self, geometry: Geometry | None = None) -> None:
        """Decode the next few images and the previous one in the background.

        Called after the current image is drawn, not before: preparing strips or sixels holds
        Python's GIL for milliseconds, which would otherwise delay drawing this one.
        """
        geometry = geometry or self._geometry()
        if geometry is not None:
            for item in self.session.ahead(PREFETCH_AHEAD):
                self._request(item, geometry)

    def _display(self, item: QueueItem, decoded: Decoded) -> None:
        view = self.query_one(ImageView)
        self._displayed_id = item.id
        if decoded.error:
            view.show_message(f"⚠ cannot show {item.path}\n{decoded.error}\n\n"
                              "label or skip it with the usual keys")
        else:
            view.show_image(decoded)
        self.session.note_decoded(item.id, decoded.width or None, decoded.height or None,
                                  decoded.error)
        self.call_after_refresh(self._painted, item.id, self._action_time)

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
            self._gc.take_over()
            self.set_interval(1.0, lambda: self._gc.tick(self._action_time))
            if self.rescan:
                self._rescan()

    @on(ImageDecoded)
    def _on_decoded(self, message: ImageDecoded) -> None:
        item, geometry = self.current, self._geometry()
        if item is None or item.id != message.image_id or geometry is None:
            return  # the user moved on meanwhile
        future = self._request(item, geometry)
        if future.done() and self._displayed_id != item.id:
            self._display(item, future.result())
            self._update_status()

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_current)

    def _update_status(self) -> None:
        s, item = self.session, self.current
        state = s.state(item.id) if item is not None else None
        self.query_one(StatusBar).show(StatusInfo(
            position=min(s.pos + 1, len(s.queue)), queue_length=len(s.queue), counts=s.counts,
            per_minute=s.per_minute, path=item.path if item else "",
            label=s.state_text(state) if state is not None else "", order=s.describe_order(),
        ))
        self.query_one(Legend).show(s.classes, s.counts.per_class,
                                    state.class_id if state is not None else None)

    # -- actions --------------------------------------------------------------------------

    def _apply(self, change: Change) -> None:
        if change.notice:
            self.notify(escape(change.notice), severity="warning", timeout=3)
        if change.moved:
            self.show_current()
        elif change.image_id is not None:
            self._update_status()

    def _write(self, what: str, call) -> None:
        """Run a key's write; a failed write leaves the key unacknowledged and says why."""
        self._action_time = time.perf_counter()
        if self._locked:
            self.app.bell()  # still locked: refused at once, without waiting again
            return
        try:
            change = call()
        except StoreWriteError as exc:
            self.app.bell()
            if exc.kind == "locked":
                self._locked = True
                self.query_one(Alert).say(f"{exc}: waiting · {NOT_SAVED[what]}")
                self._wait_for_lock()
            else:
                self.query_one(Alert).say(f"{exc}: {NOT_SAVED[what]}")
            return
        self.query_one(Alert).say(None)
        self._apply(change)

    def _act_on_shown(self, action: str, call) -> None:
        item = self.current
        if item is None or self.shown_id != item.id:
            # The next image is not on screen yet: never label what nobody has seen.
            self._action_time = time.perf_counter()
            self.app.bell()
            return
        ms = int((time.monotonic() - self.shown_at) * 1000)
        self._write(action, lambda: call(ms))

    def action_label(self, class_id: int) -> None:
        self._act_on_shown("label", lambda ms: self.session.label(class_id, ms))

    def action_skip(self) -> None:
        self._act_on_shown("skip", self.session.skip)

    def action_undo(self) -> None:
        self._write("undo", self.session.undo)

    def action_previous(self) -> None:
        self._action_time = time.perf_counter()
        self._apply(self.session.move(-1))

    def action_next(self) -> None:
        self._action_time = time.perf_counter()
        self._apply(self.session.move(1))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.session.classes))

    def action_choose_order(self) -> None:
        def chosen(order: OrderChoice | None) -> None:
            if order is not None:
                self.set_order(order)

        self.app.push_screen(OrderScreen(self.session.classes), chosen)

    def set_order(self, order: OrderChoice) -> None:
        self._apply(self.session.set_order(order))

    async def action_quit(self) -> None:
        self._flush_decodes()
        self.app.exit()

    # -- background work ------------------------------------------------------------------

    def _flush_decodes(self) -> None:
        try:
            self.session.flush_decodes()
        except StoreWriteError:
            pass  # kept for the next try; a key's write will say what is wrong

    def _refresh_periodically(self) -> None:
        self._flush_decodes()
        self._count_in_thread(self.session.generation)

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False, name="count")
    def _count_in_thread(self, generation: int) -> None:
        self.post_message(CountsRefreshed(background.count(self.store.path), generation))

    @on(CountsRefreshed)
    def _on_counts(self, message: CountsRefreshed) -> None:
        if self.session.take_counts(message.counts, message.generation):
            self._update_status()

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False, name="rescan")
    def _rescan(self) -> None:
        self.post_message(ScanDone(background.rescan(self.store.path, self.root)))

    @on(ScanDone)
    def _on_scan_done(self, message: ScanDone) -> None:
        r = message.result
        if not (r.added or r.missing or r.changed or r.returned):
            return
        for image_id in r.changed_ids:
            self.prefetcher.forget(image_id)  # its file changed: decode it again
        change = self.session.refresh(r)
        self.notify(f"Rescan: {r.added} new, {r.changed} changed, {r.missing} missing.",
                    timeout=4)
        if change.moved:
            self.show_current()
        else:
            self._update_status()

    @work(thread=True, exclusive=True, group="lock", exit_on_error=False, name="lock wait")
    def _wait_for_lock(self) -> None:
        worker = get_current_worker()
        background.wait_for_write_lock(self.store.path, lambda: worker.is_cancelled)
        self.post_message(WriteLockFree())

    @on(WriteLockFree)
    def _on_lock_free(self) -> None:
        self._locked = False
        self.query_one(Alert).say(None)
        self.notify("The database is free again: press the key again.", timeout=3)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """Every background failure is shown here, once: none vanishes."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            if event.worker.name == "lock wait":
                self._locked = False
            self.notify(escape(f"{event.worker.name} failed: {error}"), severity="error",
                        timeout=8)

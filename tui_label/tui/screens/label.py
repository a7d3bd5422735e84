"""The labeling screen: one image, one key per class, every key saved at once.

The screen draws and maps keys to ``LabelSession`` calls; the session decides. The screen keeps
the layout, the paint gating (a key labels only an image that has been drawn) and the workers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState, get_current_worker

from tui_label.labeling import jobs as background
from tui_label.config.labeler import DEFAULTS
from tui_label.media.decode import Decoded, Geometry, Prefetcher
from tui_label.core.keys import BINDINGS
from tui_label.core.orders import OrderChoice, QueueItem
from tui_label.tui.quiet_gc import QuietGC
from tui_label.tui.screens.help import HelpScreen
from tui_label.tui.screens.messages import (
    CountsRefreshed,
    DisagreementsCounted,
    ImageDecoded,
    ModelFailed,
    ModelReady,
    OrderRanked,
    ScanDone,
    WriteLockFree,
)
from tui_label.tui.screens.metrics import MetricsScreen
from tui_label.tui.screens.order import OrderScreen
from tui_label.tui.screens.stats import StatsScreen
from tui_label.runs.controller import RunUpdated, TrainerEvent, TrainingController
from tui_label.labeling.session import Change, LabelSession
from tui_label.store import Store, StoreWriteError
from tui_label.tui.widgets.alert import Alert
from tui_label.tui.widgets.image_view import ImageView
from tui_label.tui.widgets.legend import Legend
from tui_label.tui.widgets.metrics_view import ConfusionView
from tui_label.tui.widgets.picture import Renderer
from tui_label.tui.widgets.status import StatusBar, StatusInfo
from tui_label.tui.widgets.suggestions import (
    Suggestions,
    review_text,
    suggestions_text,
    suspect_text,
)
from tui_label.tui.widgets.train_panel import TrainPanel

PREFETCH_AHEAD = 4
REFRESH_SECONDS = 5.0
COUNTS_SECONDS = 1.0  # other labelers' work shows in the counts within this (and a read)
LEASE_RENEW_SECONDS = 5.0  # leases last LEASE_SECONDS (30 s): renewed well before they lapse
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
                 prefetcher: Prefetcher | None = None, suggestions: bool = DEFAULTS.suggestions,
                 live_head_every: int = DEFAULTS.live_head_every,
                 auto_train: int = DEFAULTS.auto_train,
                 overlap: float = 0.0) -> None:
        super().__init__()
        self.store = store
        self.root = root
        self.renderer = renderer
        self.rescan = rescan
        self.session = LabelSession(store, order, overlap=overlap)
        self.prefetcher = prefetcher or Prefetcher()
        if self.prefetcher.prepare is None:
            self.prefetcher.prepare = renderer.prepare  # strips / sixels off the UI thread
        self.shown_id: int | None = None  # the image drawn on screen now; keys label this one
        self._displayed_id: int | None = None  # handed to the view, maybe not drawn yet
        self._fitted_to: Geometry | None = None  # the area the image on screen was fitted to
        self._shown_decoded: Decoded | None = None  # what the view shows now
        self.shown_at = 0.0
        self.painted: deque[Painted] = deque(maxlen=5000)
        self._action_time = 0.0  # perf_counter() of the last key's action
        self._gc = QuietGC()
        self._locked = False  # a key met another process's lock: keys wait for it
        for row in self.session.classes:
            self._bindings.bind(row.hotkey, f"label({row.id})", row.name, show=False)
        if self.session.multi_label:
            # Class keys toggle; enter saves the set and moves on (a/enter accept a model's
            # suggestion in single-label mode: multi-label mode has no suggestions).
            self._bindings.key_to_bindings.pop("a", None)
            self._bindings.key_to_bindings["enter"] = [
                Binding("enter", "commit_set", "Save", key_display="⏎")]
            suggestions, live_head_every = False, 0
        self.training = TrainingController(store.path, root, post=self.post_message,
                                           notify=self.notify, set_interval=self.set_interval)
        # The model: suggestions (off for an unbiased pass), the live head, auto-retrain.
        self.suggestions_allowed = suggestions  # False: --no-suggestions or the config
        self.suggestions_shown = suggestions  # S toggles
        self.live_head_every = live_head_every
        self.auto_train = auto_train  # start a run after this many new labels (0: never)
        self._live_head = None  # tui_label.assist.live_head.LiveHead, started on the first refit
        self._head_lock = threading.Lock()
        self._live_mark = 0  # session.labels_made at the last refit
        self._train_mark = 0  # session.labels_made when the last run started
        # (run id, predicted at) of predictions that could not be read: said once
        self._model_failed: tuple[int, str] | None = None
        self._wanted_order: OrderChoice | None = None  # the order chosen last (set_order)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield ImageView(self.renderer, id="image")
            yield TrainPanel(id="train-panel", auto_train=self.auto_train)
        yield Suggestions(id="suggestions")
        yield Alert(id="alert")
        yield Legend(id="legend")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._fit_footer()
        self.query_one(TrainPanel).display = False
        self.training.attach()
        change = self.session.load()
        if change.notice:
            self.notify(change.notice, severity="warning", timeout=6, markup=False)
        if self.session.model is not None:
            self.session.set_model(self._with_runner(self.session.model))
            # Its line takes a row before the first image is sized.
            self.query_one(Suggestions).display = self.suggestions_shown
        self.set_interval(REFRESH_SECONDS, self._refresh_periodically)
        self.set_interval(COUNTS_SECONDS, self._count_in_thread)
        self.set_interval(LEASE_RENEW_SECONDS, self._renew_leases)
        self._count_disagreements()
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

    def action_resume_training(self) -> None:
        panel = self.query_one(TrainPanel)
        if not panel.display:
            self.action_toggle_training()
        if self.training.resume():
            self._train_mark = self.session.labels_made

    @on(TrainPanel.StartRequested)
    def _start_training(self, message: TrainPanel.StartRequested) -> None:
        self._train_mark = self.session.labels_made
        self.training.start(message.settings)

    @on(TrainPanel.AutoTrainChanged)
    def _auto_train_changed(self, message: TrainPanel.AutoTrainChanged) -> None:
        self.auto_train = message.every

    @on(TrainPanel.StopRequested)
    def _stop_training(self) -> None:
        self.training.stop()

    @on(TrainerEvent)
    def _trainer_event(self, message: TrainerEvent) -> None:
        self.training.on_event(message.event)
        if message.event.get("event") in ("predicted", "finished"):
            self._load_model()  # new predictions: suggestions and the queue follow them

    @on(RunUpdated)
    def _run_updated(self, message: RunUpdated) -> None:
        panel = self.query_one(TrainPanel)
        if panel.display:
            panel.show_state(message.state)

    def action_show_metrics(self) -> None:
        def chosen(cell: tuple[str, str] | None) -> None:
            if cell is not None:
                self.drill_down(*cell)

        self.app.push_screen(MetricsScreen(self.training.state), chosen)

    def action_show_stats(self) -> None:
        self.app.push_screen(StatsScreen(self.store.path))

    @on(ConfusionView.CellChosen)
    def _cell_chosen(self, message: ConfusionView.CellChosen) -> None:
        self.drill_down(message.true_class, message.predicted_class)

    def drill_down(self, true_class: str, predicted_class: str) -> None:
        """Open the queue of images labeled ``true_class`` that the model predicts as
        ``predicted_class`` (a confusion matrix cell)."""
        ids = {row.name: row.id for row in self.store.classes()}
        if true_class not in ids or predicted_class not in ids:
            self.notify("That class no longer exists.", severity="warning", timeout=4, markup=False)
            return
        self.screen.set_focus(None)  # keys go back to labeling
        self.set_order(OrderChoice("confusion", ids[true_class], ids[predicted_class]))

    def on_unmount(self) -> None:
        self.training.close()
        if self._live_head is not None:
            self._live_head.close()
        self._gc.release()
        self._flush_decodes()
        self._release_leases()
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
        item, geometry = self.current, self._geometry()
        # The same image drawn again (a resize, the suggestions line taking a row) stays
        # seen: keys keep acting on it. Another image is only acted on once drawn.
        if item is None or item.id != self.shown_id:
            self.shown_id = None
        self._displayed_id = None
        self._fitted_to = geometry
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
            ahead = self.session.ahead(PREFETCH_AHEAD)
            futures = [self._request(item, geometry) for item in ahead]
            self.query_one(ImageView).prefetched(futures)  # kitty: uploaded ahead
            if self.suggestions_shown:
                self.session.prefetch_suggestions(ahead)  # not on the key that shows them

    def _display(self, item: QueueItem, decoded: Decoded) -> None:
        view = self.query_one(ImageView)
        self._displayed_id = item.id
        self._shown_decoded = decoded
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
            if self.session.model is None:
                self._load_model()  # after the first image: never slows the start

    @on(ImageDecoded)
    def _on_decoded(self, message: ImageDecoded) -> None:
        item, geometry = self.current, self._geometry()
        if item is None or item.id != message.image_id or geometry is None:
            return  # the user moved on meanwhile
        future = self._request(item, geometry)
        if not future.done():
            self.show_current()  # the area changed while it decoded: wait for this size
        elif self._displayed_id != item.id:
            self._display(item, future.result())
            self._update_status()

    def on_resize(self) -> None:
        self._fit_footer()
        self.call_after_refresh(self.show_current)

    def _fit_footer(self) -> None:
        """Every key hint on one line: less space between them on a narrow terminal (80
        columns cut Train, Help and Quit), and the hint of Textual's command palette only
        where there is room."""
        footer = self.query_one(Footer)
        width = self.app.size.width
        footer.compact = width < 120
        footer.show_command_palette = width >= 110

    @on(ImageView.Resized)
    def _image_area_resized(self) -> None:
        # The layout settles after the refresh that a change asked for: an area that is not
        # the one the image was fitted to gets it fitted again (once: the same area, nothing).
        geometry, shown = self._geometry(), self._shown_decoded
        if geometry == self._fitted_to or self._displayed_id is None:
            return  # the same area, or nothing shown yet (the show on its way reads the area)
        if (geometry is not None and shown is not None and shown.image is not None
                and self.current is not None and self._displayed_id == self.current.id
                and geometry.layout(shown.width, shown.height) == (shown.cells,
                                                                   shown.image.size)):
            self._fitted_to = geometry  # the image would come out the same: not sent again
            return
        self.show_current()

    def _update_status(self) -> None:
        s, item = self.session, self.current
        state = s.state(item.id, item.path) if item is not None else None
        self.query_one(StatusBar).show(StatusInfo(
            position=min(s.pos + 1, len(s.queue)), queue_length=len(s.queue), counts=s.counts,
            per_minute=s.per_minute, path=item.path if item else "",
            label=s.label_text(item.id, state) if state is not None else "",
            order=s.describe_order(),
        ))
        if state is None:
            marked = frozenset()
        elif s.multi_label:
            marked = s.toggled(item.id, state)
        else:
            marked = state.classes if state.labeled else frozenset()
        self.query_one(Legend).show(s.classes, s.counts.per_class, marked)
        self._show_suggestions(item, state)

    def _show_suggestions(self, item: QueueItem | None, state) -> None:
        """The suggestions line: the model's top classes, or in the suspect queue the given
        label beside the model's; hidden without a model or when suggestions are off."""
        s, widget = self.session, self.query_one(Suggestions)
        if s.order.order.source == "disagreements":  # each annotator's label, to settle
            widget.say(review_text(s.opinions(item.id)) if item is not None else None)
            return
        if s.model is None or not self.suggestions_shown:
            widget.say(None)
            return
        source, warnings = s.model.source(), s.model.warnings(s.newer_labels)
        names = s.class_names
        if item is None:  # the end of a view: the line stays (the layout does not jump)
            widget.say(Text(f"model: {source}", style="dim"))
            return
        suspect = s.suspect(item.id) if item is not None else None
        if suspect is not None:
            given = state.class_id if state is not None and state.labeled else None
            widget.say(suspect_text(names.get(given, "?") if given else "none",
                                    names.get(suspect["predicted_class"], "?"),
                                    suspect["probability"], source, warnings))
            return
        top = s.suggestions(item.id)
        widget.say(suggestions_text([(names.get(c, "?"), p) for c, p in top], source,
                                    warnings))

    # -- actions --------------------------------------------------------------------------

    def _apply(self, change: Change) -> None:
        if change.notice:
            self.notify(change.notice, severity="warning", timeout=3, markup=False)
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
        if change.image_id is not None:
            self._labels_changed()

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
        if self.session.multi_label:
            item = self.current
            if item is None or self.shown_id != item.id:
                self.app.bell()  # never toggle on an image nobody has seen
                return
            self._action_time = time.perf_counter()
            self._apply(self.session.toggle(class_id))
            return
        self._act_on_shown("label", lambda ms: self.session.label(class_id, ms))

    def action_commit_set(self) -> None:
        self._act_on_shown("label", self.session.commit_set)

    def action_skip(self) -> None:
        self._act_on_shown("skip", self.session.skip)

    def action_accept(self) -> None:
        if self.session.model is not None and not self.suggestions_shown:
            self.app.bell()
            self.notify("Suggestions are hidden: S shows them" if self.suggestions_allowed
                             else "Suggestions are off in this session", timeout=3, markup=False)
            return
        self._act_on_shown("label", lambda ms: self._refused(self.session.accept(ms)))

    def action_confirm(self) -> None:
        self._act_on_shown("label", lambda ms: self._refused(self.session.confirm(ms)))

    def _refused(self, change: Change) -> Change:
        if change.notice:
            self.app.bell()  # nothing to accept or confirm: the key did nothing
        return change

    def action_toggle_suggestions(self) -> None:
        if not self.suggestions_allowed:
            self.notify("Suggestions are off in this session (--no-suggestions or "
                             "suggestions = false in tui-label.toml).", timeout=4, markup=False)
            return
        self.suggestions_shown = not self.suggestions_shown
        if self.session.model is None:
            self.notify("No model yet: suggestions come after a training run "
                             "(t opens the panel).", timeout=4, markup=False)
            return
        self._update_status()
        self.call_after_refresh(self.show_current)  # the image area changed size

    def action_cycle_order(self, step: int) -> None:
        # From the order chosen last, even while it is still being ranked.
        self.set_order(self.session.cycle_order(step, self._wanted_order))

    def action_undo(self) -> None:
        self._write("undo", self.session.undo)

    def action_previous(self) -> None:
        self._action_time = time.perf_counter()
        self._apply(self.session.move(-1))

    def action_next(self) -> None:
        self._action_time = time.perf_counter()
        self._apply(self.session.move(1))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.session.classes,
                                        multi_label=self.session.multi_label))

    def action_choose_order(self) -> None:
        def chosen(order: OrderChoice | None) -> None:
            if order is not None:
                self.set_order(order)

        self.app.push_screen(OrderScreen(self.session.classes,
                                         has_model=self.session.model is not None,
                                         has_disagreements=self.session.disagreements > 0),
                             chosen)

    def set_order(self, order: OrderChoice) -> None:
        """Switch orders; a model order is ranked in the background, then switched to."""
        self._wanted_order = order  # a ranking for an order chosen before this one is dropped
        if order.order.needs_model and self.session.model is not None:
            self._rank_in_thread(order, self.session.model)
            return
        self._apply(self.session.set_order(order))
        self._wanted_order = self.session.order  # as it is now (a refused order: the old one)

    @work(thread=True, exclusive=True, group="rank", exit_on_error=False, name="ordering")
    def _rank_in_thread(self, order: OrderChoice, model) -> None:
        self.post_message(OrderRanked(order, self._rank(order, model)))

    def _rank(self, order: OrderChoice, model) -> list[QueueItem]:
        """On a worker thread: ``order``'s queue ranked by ``model``, as this annotator sees
        it."""
        return background.rank(self.store.path, order, model, annotator=self.store.annotator,
                               overlap=self.session.overlap)

    @on(OrderRanked)
    def _on_ranked(self, message: OrderRanked) -> None:
        if message.order != self._wanted_order:
            return  # another order was chosen while this one was being ranked
        self._apply(self.session.set_order(message.order, message.ranked))
        order = self.session.order
        if order == message.order and order.order.name == "confusion":
            # Its length is not the matrix's count: say what it holds.
            names = self.session.class_names
            count = len(self.session.queue)
            self.notify(f"{names.get(order.class_id)} → {names.get(order.other_id)}: "
                             f"{count} labeled image{'s' if count != 1 else ''} by the "
                             f"out-of-sample predictions (the matrix counts the last epoch's "
                             f"validation images)", timeout=8, markup=False)

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
        self._count_disagreements()
        if self.painted:
            self._load_model()  # predictions made elsewhere (tui-label predict) show up too

    # -- the model ------------------------------------------------------------------------

    def _labels_changed(self) -> None:
        """After a key's write: refit the live head or retrain when enough labels are new."""
        made = self.session.labels_made
        model = self.session.model
        if (self.live_head_every and model is not None
                and made - self._live_mark >= self.live_head_every
                and model.predictions.embeddings is not None):
            self._live_mark = made
            self._refit_live(model, made)
        if (self.auto_train and made - self._train_mark >= self.auto_train
                and not self.training.state.active):
            self._train_mark = made
            self.notify(f"Auto-retrain: {self.auto_train} new labels, starting a run.",
                        timeout=3, markup=False)
            self.training.start(self.query_one(TrainPanel).settings())

    def _with_runner(self, model):
        """The model, running TypiClust in the live head's process (never in this one)."""
        return model.with_runner(self._run_elsewhere) if model is not None else None

    def _run_elsewhere(self, fn, *args):
        """On a worker thread: run ``fn`` in the live head's process and wait for it."""
        return self._head().call(fn, *args).result()

    def _head(self):
        """The live head's process (started on first use, from a worker thread)."""
        with self._head_lock:
            if self._live_head is None:
                from tui_label.assist.live_head import LiveHead  # numpy only: sklearn loads there

                background.start_resource_tracker()
                self._live_head = LiveHead()
            return self._live_head

    @work(thread=True, exclusive=True, group="model", exit_on_error=False, name="model loading")
    def _load_model(self) -> None:
        """Load the latest run's predictions when they are newer than the model we have."""
        from tui_label.assist.model_view import ModelUnavailable

        if self.session.multi_label:
            return  # suggestions and model orders are single-label (softmax) for now
        latest = background.latest_predictions(self.store.path)
        current = self.session.model
        if latest is None or latest == self._model_failed or (
                current is not None and (current.run_id, current.predicted_at) == latest):
            return
        try:
            model = self._with_runner(background.load_model(self.store.path))
        except ModelUnavailable as exc:
            self.post_message(ModelFailed(latest, str(exc)))
            return
        self.post_message(ModelReady(model, self._ranked(model), self.session.order))

    @work(thread=True, exclusive=True, group="live", exit_on_error=False, name="live head")
    def _refit_live(self, model, labels_at: int) -> None:
        from concurrent.futures import CancelledError

        try:
            live = background.fit_live(self.store.path, model, self._head())
        except CancelledError:
            return  # replaced by a newer request in the live head's process
        if live is None:
            return  # labels of one class only: nothing to learn yet
        view = model.with_live(live)
        self.post_message(ModelReady(view, self._ranked(view), self.session.order, labels_at))

    def _ranked(self, model) -> list | None:
        """On a worker thread: the current order's queue ranked by ``model`` (None when the
        order does not read the model)."""
        order = self.session.order
        if not order.order.needs_model or model is None:
            return None
        return self._rank(order, model)

    @on(ModelReady)
    def _on_model(self, message: ModelReady) -> None:
        current, model = self.session.model, message.model
        if message.labels_at is not None and (current is None or model.run_id != current.run_id):
            return  # a live head over a run that has been replaced since
        first = current is None
        ranked = message.ranked if message.order == self.session.order else None
        if ranked is None and self.session.order.order.needs_model:
            self._rank_in_thread(self.session.order, model)  # the order changed meanwhile
        change = self.session.reorder(model, ranked, labels_at=message.labels_at)
        self._apply(change)
        if not change.moved:
            self._update_status()
        if first and model is not None and self.suggestions_shown:
            self.call_after_refresh(self.show_current)  # the suggestions line takes a row

    @on(ModelFailed)
    def _on_model_failed(self, message: ModelFailed) -> None:
        self._model_failed = message.run
        self.notify(message.reason, severity="warning", timeout=6, markup=False)

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False, name="count")
    def _count_in_thread(self) -> None:
        self.post_message(CountsRefreshed(*background.count_through(self.store.path)))

    @on(CountsRefreshed)
    def _on_counts(self, message: CountsRefreshed) -> None:
        if self.session.take_counts(message.counts, message.through):
            self._update_status()

    @work(thread=True, exclusive=True, group="disagreements", exit_on_error=False,
          name="disagreement count")
    def _count_disagreements(self) -> None:
        self.post_message(DisagreementsCounted(background.disagreement_count(self.store.path)))

    @on(DisagreementsCounted)
    def _on_disagreements(self, message: DisagreementsCounted) -> None:
        self.session.disagreements = message.count

    def _renew_leases(self) -> None:
        self._renew_in_thread(self.session.lease_window())

    @work(thread=True, exclusive=True, group="leases", exit_on_error=False, name="lease renewal")
    def _renew_in_thread(self, image_ids: list[int]) -> None:
        try:
            background.renew_leases(self.store.path, self.store.annotator, image_ids,
                                    self.session.lease_seconds)
        except StoreWriteError:
            pass  # locked or full: the next renewal tries again, well before they lapse

    def _release_leases(self) -> None:
        """Leaving: the images this labeler held are offered to the others at once."""
        try:
            with self.store.busy_timeout(500):
                self.store.release_leases()
        except StoreWriteError:
            pass  # they lapse by themselves within LEASE_SECONDS

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

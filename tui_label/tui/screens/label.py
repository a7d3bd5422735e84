"""The labeling screen: one image, one key per class, every key saved at once. It draws and
maps keys to ``LabelSession`` calls, which decide. Its helpers: ``ImageStage`` (what is drawn: a
key labels only a drawn image), ``LabelJobs`` (timers and background work), ``ModelLoop`` (when
to refit the live head or retrain) and ``status_for`` (what the status lines say)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from tui_label.assist.loop import ModelLoop
from tui_label.config.labeler import DEFAULTS
from tui_label.core.keys import BINDINGS
from tui_label.core.orders import OrderChoice
from tui_label.labeling import jobs as background
from tui_label.labeling.change import Change
from tui_label.labeling.session import LabelSession
from tui_label.media.decode import Prefetcher
from tui_label.store import Store
from tui_label.tui.presenters import HIDDEN, NO_MODEL_YET, OFF, OFF_HERE, status_for
from tui_label.tui.screens.help import HelpScreen
from tui_label.tui.screens.label_grid import GridKeys
from tui_label.tui.screens.label_jobs import LabelJobs
from tui_label.tui.screens.label_training import TrainingRoutes, controller_for
from tui_label.tui.screens.messages import (
    CountsRefreshed,
    DisagreementsCounted,
    ImageDecoded,
    ModelFailed,
    ModelReady,
    OrderRanked,
    RunUpdated,
    ScanDone,
    TrainerEvent,
    WriteLockFree,
)
from tui_label.tui.screens.order import OrderScreen
from tui_label.tui.screens.stage import ImageStage
from tui_label.tui.screens.stats import StatsScreen
from tui_label.tui.widgets.alert import Alert
from tui_label.tui.widgets.image_view import ImageView
from tui_label.tui.widgets.legend import Legend
from tui_label.tui.widgets.metrics_view import ConfusionView
from tui_label.tui.widgets.picture import Renderer
from tui_label.tui.widgets.status import StatusBar
from tui_label.tui.widgets.suggestions import Suggestions
from tui_label.tui.widgets.train_panel import TrainPanel


class LabelScreen(GridKeys, Screen):
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
        self.store, self.root, self.renderer, self.rescan = store, root, renderer, rescan
        self.session = LabelSession(store, order, overlap=overlap)
        self.model_look, self.models_posted, self.models_taken = None, 0, 0  # for --grid
        self.prefetcher = prefetcher or Prefetcher()
        if self.prefetcher.prepare is None:
            self.prefetcher.prepare = renderer.prepare  # strips / sixels off the UI thread
        self.stage = ImageStage(self, self.session, self.prefetcher, root,
                                on_status=self.update_status, on_first_paint=self._first_paint,
                                suggestions_shown=lambda: self.suggestions_shown)
        self.jobs = LabelJobs(self, store, root, self.session, self.prefetcher,
                              runner=lambda fn, *args: self.loop.run_elsewhere(fn, *args))
        for row in self.session.classes:
            self._bindings.bind(row.hotkey, f"label({row.id})", row.name, show=False)
        if self.session.multi_label:
            # Class keys toggle, enter saves the set (no suggestions to accept with a/enter).
            self._bindings.key_to_bindings.pop("a", None)
            self._bindings.key_to_bindings["enter"] = [
                Binding("enter", "commit_set", "Save", key_display="⏎")]
            suggestions = False
        self.training = controller_for(self, store.path, root)
        self.suggestions_allowed = suggestions  # False: --no-suggestions or the config
        self.suggestions_shown = suggestions  # S toggles
        self.loop = ModelLoop(store.path, live_head_every=live_head_every, auto_train=auto_train,
                              multi_label=self.session.multi_label,
                              before_head=background.start_resource_tracker)
        self.routes = TrainingRoutes(self, self.training, self.session, self.loop,
                                     relayout=self.show_current)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield ImageView(self.renderer, id="image")
            yield TrainPanel(id="train-panel", auto_train=self.loop.auto_train)
        yield Suggestions(id="suggestions")
        yield Alert(id="alert")
        yield Legend(id="legend")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._fit_footer()
        self.query_one(TrainPanel).display = False
        self.routes.attach()
        change = self.session.load()
        if change.notice:
            self.notify(change.notice, severity="warning", timeout=6, markup=False)
        if self.session.model is not None:
            self.session.set_model(self.loop.with_runner(self.session.model))
            self.query_one(Suggestions).display = self.suggestions_shown  # a row, before sizing
        # Predictions made elsewhere (tui-label predict) show up too, once an image is drawn.
        self.jobs.start(refresh_model=lambda: self._load_model() if self.stage.painted else None)
        self.call_after_refresh(self.show_current)

    def _first_paint(self) -> None:
        self.jobs.first_paint(rescan=self.rescan, last_key=lambda: self.stage.action_time)
        if self.session.model is None:
            self.model_look = self._load_model()  # after the first image: never slows the start

    def on_unmount(self) -> None:
        self.training.close()
        self.loop.close()
        self.jobs.close()
        self.prefetcher.close()

    # -- training (routed by TrainingRoutes) ---------------------------------------------

    def action_toggle_training(self) -> None:
        self.routes.toggle_panel()

    def action_start_stop_training(self) -> None:
        self.routes.open_panel().toggle_run()

    def action_resume_training(self) -> None:
        self.routes.resume()

    def action_show_metrics(self) -> None:
        self.routes.show_metrics(self.drill_down)

    def action_show_stats(self) -> None:
        self.app.push_screen(StatsScreen(self.store.path))

    @on(TrainPanel.StartRequested)
    def _start_training(self, message: TrainPanel.StartRequested) -> None:
        self.routes.start(message.settings)

    @on(TrainPanel.AutoTrainChanged)
    def _auto_train_changed(self, message: TrainPanel.AutoTrainChanged) -> None:
        self.loop.auto_train = message.every

    @on(TrainPanel.StopRequested)
    def _stop_training(self) -> None:
        self.training.stop()

    @on(TrainerEvent)
    def _trainer_event(self, message: TrainerEvent) -> None:
        if self.routes.on_event(message.event):
            self._load_model()  # new predictions: suggestions and the queue follow them

    @on(RunUpdated)
    def _run_updated(self, message: RunUpdated) -> None:
        self.routes.show_state(message.state)

    @on(ConfusionView.CellChosen)
    def _cell_chosen(self, message: ConfusionView.CellChosen) -> None:
        self.routes.show_metrics(self.drill_down, (message.true_class, message.predicted_class))

    def drill_down(self, true_class: str, predicted_class: str) -> None:
        """Open the queue of images labeled ``true_class`` that the model predicts as
        ``predicted_class`` (a confusion matrix cell)."""
        order = self.routes.confusion_order(true_class, predicted_class)
        if order is not None:
            self.screen.set_focus(None)  # keys go back to labeling
            self.set_order(order)

    # -- drawing --------------------------------------------------------------------------

    def show_current(self) -> None:
        """Put the current queue item on screen (or ask for it) and prefetch around it."""
        self.stage.show_current()

    @on(ImageDecoded)
    def _on_decoded(self, message: ImageDecoded) -> None:
        self.stage.decoded(message.image_id)

    @on(ImageView.Resized)
    def _image_area_resized(self) -> None:
        self.stage.resized()

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

    def update_status(self) -> None:
        """The status bar, the legend and the suggestions line, for the current image."""
        view = status_for(self.session, suggestions_shown=self.suggestions_shown)
        self.query_one(StatusBar).show(view.info)
        self.query_one(Legend).show(self.session.classes, self.session.counts.per_class,
                                    view.marked)
        self.query_one(Suggestions).say(view.suggestion)

    # -- actions --------------------------------------------------------------------------

    def _apply(self, change: Change | None) -> None:
        """Show what a session call changed (None: nothing, e.g. a refused or pending call)."""
        if change is None:
            return
        if change.notice:
            self.notify(change.notice, severity="warning", timeout=3, markup=False)
        if change.moved:
            self.show_current()
        elif change.image_id is not None:
            self.update_status()

    def _write(self, what: str, call: Callable[[], Change]) -> None:
        """Run a key's write; a failed write leaves the key unacknowledged and says why."""
        self.stage.key_pressed()
        change = self.jobs.write(what, call)
        if change is not None:
            self.query_one(StatusBar).after_key(what, change, self.session.label_text)
            self._apply(change)
            if change.image_id is not None:
                self.routes.labels_changed(refit=self._refit_live)

    def _act_on_shown(self, action: str, call: Callable[[int], Change]) -> None:
        ms = self.stage.seen_ms()
        if ms is None:
            # The next image is not on screen yet: never label what nobody has seen.
            self.stage.key_pressed()
            self.query_one(StatusBar).refused()
            return
        self._write(action, lambda: call(ms))

    def action_label(self, class_id: int) -> None:
        if self.session.multi_label:
            if self.stage.seen_ms() is None:
                self.query_one(StatusBar).refused()  # never toggle on an unseen image
                return
            self.stage.key_pressed()
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
            self.notify(HIDDEN if self.suggestions_allowed else OFF, timeout=3, markup=False)
            return
        self._act_on_shown("label", lambda ms: self._refused(self.session.accept(ms)))

    def action_confirm(self) -> None:
        self._act_on_shown("label", lambda ms: self._refused(self.session.confirm(ms)))

    def _refused(self, change: Change) -> Change:
        if change.notice:
            self.query_one(StatusBar).refused()  # nothing to accept or confirm
        return change

    def action_toggle_suggestions(self) -> None:
        if not self.suggestions_allowed:
            self.notify(OFF_HERE, timeout=4, markup=False)
            return
        self.suggestions_shown = not self.suggestions_shown
        if self.session.model is None:
            self.notify(NO_MODEL_YET, timeout=4, markup=False)
            return
        self.update_status()
        self.call_after_refresh(self.show_current)  # the image area changed size

    def action_cycle_order(self, step: int) -> None:
        # From the order chosen last, even while it is still being ranked.
        self.set_order(self.session.cycle_order(step, self.jobs.wanted_order))

    def action_undo(self) -> None:
        self._write("undo", self.session.undo)

    def action_previous(self) -> None:
        self.stage.key_pressed()
        self._apply(self.session.move(-1))

    def action_next(self) -> None:
        self.stage.key_pressed()
        self._apply(self.session.move(1))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.session.classes,
                                        multi_label=self.session.multi_label))

    def action_choose_order(self) -> None:
        def chosen(order: OrderChoice | None) -> None:
            if order is not None:
                self.set_order(order)

        self.app.push_screen(OrderScreen(self.session.classes, self.jobs.count_orders,
                                         has_model=self.session.model is not None,
                                         has_disagreements=self.session.disagreements > 0),
                             chosen)

    def set_order(self, order: OrderChoice) -> None:
        """Switch orders; a model order is ranked in the background, then switched to."""
        self._apply(self.jobs.set_order(order))

    @on(OrderRanked)
    def _on_ranked(self, message: OrderRanked) -> None:
        self._apply(self.jobs.take_ranked(message))

    async def action_quit(self) -> None:
        self.jobs.flush_decodes()
        self.app.exit()

    # -- the model ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="model", exit_on_error=False, name="model loading")
    def _load_model(self) -> None:
        """Load the latest run's predictions when they are newer than the model we have."""
        loaded = self.loop.load(self.session.model)
        if loaded is not None and loaded.failed is not None:
            self.post_message(ModelFailed(loaded.failed, loaded.reason))
        elif loaded is not None:
            self.models_posted += 1
            self.post_message(ModelReady(loaded.model, self.jobs.ranked(loaded.model),
                                     self.session.order))
        elif self.session.model is None:
            self.jobs.cold_start()  # typical first by the images' pixels, until a model

    @work(thread=True, exclusive=True, group="live", exit_on_error=False, name="live head")
    def _refit_live(self, model, labels_at: int) -> None:
        view = self.loop.refit(model)  # None: nothing to learn yet, or replaced by a newer one
        if view is not None:
            self.post_message(ModelReady(view, self.jobs.ranked(view), self.session.order,
                                         labels_at))

    @on(ModelReady)
    def _on_model(self, message: ModelReady) -> None:
        first, self.models_taken = self.session.model is None, self.models_taken + 1
        change = self.jobs.take_model(message)
        if change is None:
            return
        self._apply(change)
        if not change.moved:
            self.update_status()
        if first and message.model is not None and self.suggestions_shown:
            self.call_after_refresh(self.show_current)  # the suggestions line takes a row

    @on(ModelFailed)
    def _on_model_failed(self, message: ModelFailed) -> None:
        self.notify(message.reason, severity="warning", timeout=6, markup=False)

    # -- background results ---------------------------------------------------------------

    @on(CountsRefreshed)
    def _on_counts(self, message: CountsRefreshed) -> None:
        if self.session.take_counts(message.counts, message.through):
            self.update_status()

    @on(DisagreementsCounted)
    def _on_disagreements(self, message: DisagreementsCounted) -> None:
        self.session.disagreements = message.count

    @on(ScanDone)
    def _on_scan_done(self, message: ScanDone) -> None:
        change = self.jobs.scan_done(message.result)
        if change is not None:
            self.show_current() if change.moved else self.update_status()

    @on(WriteLockFree)
    def _on_lock_free(self) -> None:
        self.jobs.lock_free()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """Every background failure is shown here, once: none vanishes."""
        if event.state == WorkerState.ERROR:
            self.jobs.failed(event.worker)

"""The labeling screen's training routes: the panel, the trainer's events, the metrics, and
what the model loop decides after a key's write.

``TrainingRoutes`` passes what the training panel asks for to the ``TrainingController``, keeps
the panel up to date, tells the ``ModelLoop`` when a run starts (auto-train counts from there),
acts on its refit and auto-train decisions, and turns a confusion matrix cell into the order
that lists its images. The screen's actions and message handlers call it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.screen import Screen

from tui_label.assist.loop import ModelLoop
from tui_label.assist.model_view import ModelView
from tui_label.core.orders import ORDERS, OrderChoice
from tui_label.core.rankings import ConfusionCounts, confusion_counts
from tui_label.labeling.session import LabelSession
from tui_label.runs.controller import TrainingController
from tui_label.runs.events import Event
from tui_label.runs.metrics import Report, report
from tui_label.runs.state import RunState
from tui_label.store import Store
from tui_label.tui.screens.messages import RunUpdated, TrainerEvent
from tui_label.tui.screens.metrics import MetricsScreen
from tui_label.tui.widgets.train_panel import TrainPanel


def controller_for(screen: Screen, db: Path, root: Path) -> TrainingController:
    """The screen's controller: its events and states come back as messages (``TrainerEvent``
    from the reader thread, ``RunUpdated``), its notices and polls are the screen's."""
    return TrainingController(
        db, root, on_event=lambda event: screen.post_message(TrainerEvent(event)),
        changed=lambda state: screen.post_message(RunUpdated(state)), notify=screen.notify,
        set_interval=screen.set_interval)


def predictions_source(store: Store, model: ModelView, counts: ConfusionCounts,
                       images: int) -> str:
    """Where a predictions matrix of ``images`` labeled images is from: the run (its best
    checkpoint's epoch) or the live head, and which labels it counts."""
    epochs = store.epochs(model.run_id)
    best = max(epochs, key=lambda row: row["accuracy"], default=None)  # the first best
    run = store.run(model.run_id) or {}
    checkpoint = (f" (its best checkpoint, epoch {best['epoch']})"
                  if best is not None and run.get("best_checkpoint") else "")
    source = f"run {model.run_id}'s predictions{checkpoint}"
    if model.live is not None:
        source = f"the live head ({model.live.labels} labels) on {source}"
    return (f"{source}: the {images} labeled image{'s' if images != 1 else ''} as labeled "
            f"now, {counts.out_of_sample} by out-of-sample probabilities · a cell's count is "
            "what its images' queue holds")


class TrainingRoutes:
    """Training for one labeling screen (``controller`` runs it)."""

    def __init__(self, screen: Screen, controller: TrainingController, session: LabelSession,
                 loop: ModelLoop, *, relayout: Callable[[], None]) -> None:
        self.screen, self.controller, self.session, self.loop = screen, controller, session, loop
        self._relayout = relayout  # the image area changed size: fit the image again

    def panel(self) -> TrainPanel:
        return self.screen.query_one(TrainPanel)

    def toggle_panel(self) -> None:
        panel = self.panel()
        panel.display = not panel.display
        if panel.display:
            panel.show_state(self.controller.state, force=True)
        self.screen.call_after_refresh(self._relayout)

    def open_panel(self) -> TrainPanel:
        panel = self.panel()
        if not panel.display:
            self.toggle_panel()
        return panel

    def attach(self) -> None:
        """Show the database's latest run and follow the newer ones; put back the panel's
        settings as this database kept them, and keep them as they change."""
        self.controller.attach()
        self.panel().restore(self.controller.saved_settings(), keep=self.controller.save_settings)

    def start(self, settings: dict[str, str]) -> None:
        """A run asked for by hand (the panel's start)."""
        self.loop.training_started(self.session.labels_made)
        self.controller.start(settings)

    def labels_changed(self, *, refit: Callable[[ModelView, int], object]) -> None:
        """After a key's write: ``refit(model, labels made)`` the live head (in a worker) or
        start a run with the panel's settings, when the ``ModelLoop`` says enough labels are
        new."""
        made, model = self.session.labels_made, self.session.model
        decision = self.loop.after_labels(made, model,
                                          training_active=self.controller.state.active)
        if decision.refit and model is not None:
            refit(model, made)
        if decision.train:
            self.screen.notify(f"Auto-retrain: {self.loop.auto_train} new labels, starting a "
                               "run.", timeout=3, markup=False)
            self.controller.start(self.panel().settings())

    def resume(self) -> None:
        self.open_panel()
        if self.controller.resume():
            self.loop.training_started(self.session.labels_made)

    def on_event(self, event: Event) -> bool:
        """A trainer event; True when it brought new predictions (load them)."""
        return self.controller.on_event(event)

    def show_state(self, state: RunState) -> None:
        panel = self.panel()
        if panel.display:
            panel.show_state(state)

    def show_metrics(self, drill_down: Callable[[str, str], None],
                     cell: tuple[str, str] | None = None) -> None:
        """``M``: the run's metrics, and the confusion matrix of the predictions the cells'
        orders rank by; ``cell`` (true, predicted names) gets the cursor. A cell chosen in
        the panel comes here too: its matrix counts a run's validation split at an epoch,
        which no order can list."""
        def chosen(cell: tuple[str, str] | None) -> None:
            if cell is not None:
                drill_down(*cell)

        self.screen.app.push_screen(
            MetricsScreen(self.controller.state, self.predictions_matrix(), cell), chosen)

    def predictions_matrix(self) -> tuple[Report, str] | None:
        """The confusion matrix of the model the labeler holds, counted as the ``confusion``
        order ranks (same rows, same probabilities: out of sample where there are), with
        where it is from; None without a model, or in multi-label mode."""
        model, store = self.session.model, self.session.store
        if model is None or self.session.multi_label:
            return None
        counts = confusion_counts(store.rows_for(ORDERS["confusion"].source,
                                                 self.session.overlap), model)
        classes = [c for c in store.classes() if c.hotkey]
        matrix = report(counts.matrix([c.id for c in classes]), [c.name for c in classes])
        return matrix, predictions_source(store, model, counts,
                                          sum(map(sum, matrix.confusion)))

    def confusion_order(self, true_class: str, predicted_class: str) -> OrderChoice | None:
        """The order of a confusion matrix cell: images labeled ``true_class`` that the model
        predicts as ``predicted_class``; None (and a notice) when a class is gone."""
        ids = {row.name: row.id for row in self.session.store.classes()}
        if true_class not in ids or predicted_class not in ids:
            self.screen.notify("That class no longer exists.", severity="warning", timeout=4,
                               markup=False)
            return None
        return OrderChoice("confusion", ids[true_class], ids[predicted_class])

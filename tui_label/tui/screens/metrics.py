"""``M``: the last run's metrics full-screen: epochs, per-class table, and the confusion matrix
of the predictions the labeler holds (each cell's count is its queue's length), else the
run's validation matrix."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_label.runs.metrics import Report
from tui_label.runs.state import RunState
from tui_label.tui.widgets.metrics_view import ConfusionView, MetricsView
from tui_label.tui.widgets.train_panel import status_text


class MetricsScreen(ModalScreen[tuple[str, str] | None]):
    """A snapshot of ``state``'s metrics; esc, M or q closes it. Enter (or a click) picks a
    cell of the confusion matrix: the screen closes with its (true, predicted) class names."""

    DEFAULT_CSS = """
    MetricsScreen { align: center middle; }
    MetricsScreen VerticalScroll {
        width: 100%; height: 100%; border: round $accent; background: $surface;
        padding: 0 1;
    }
    MetricsScreen #metrics-title, MetricsScreen #metrics-summary { height: auto; }
    MetricsScreen #metrics-summary { margin: 0 0 1 0; }
    """
    BINDINGS = [Binding("escape,M,q", "dismiss", "Close", show=False),
                Binding("enter", "pick_cell", "Pick a cell", show=False)]

    def __init__(self, state: RunState, matrix: tuple[Report, str] | None = None,
                 cell: tuple[str, str] | None = None) -> None:
        """``matrix``: the confusion counts whose cells open their images (the labeler's
        predictions, see ``TrainingRoutes.predictions_matrix``), else the run's validation
        matrix is shown, whose cells open nothing; ``cell``: (true, predicted) class names to
        put the cursor on, with the keys on the matrix."""
        super().__init__()
        self.state, self.matrix, self.cell = state, matrix, cell

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            title = Text("Metrics", style="bold")
            if self.state.multi_label:  # no confusion matrix: nothing to pick
                title.append("  (esc closes · ↑/↓ scroll)", style="dim")
            elif self.matrix is None:
                title.append("  (esc closes · ↑/↓ scroll · a cell opens its images once a "
                             "run's predictions are stored)", style="dim")
            else:
                title.append("  (esc closes · ↑/↓ scroll · enter picks a cell of the "
                             "confusion matrix: its images)", style="dim")
            yield Static(title, id="metrics-title")
            yield Static(self._summary(), id="metrics-summary")
            yield MetricsView(full=True, id="full-metrics")

    def _summary(self) -> Text:
        if self.state.report is None:
            return Text("No metrics yet: they come at the end of a run's first epoch "
                        "(T starts a run).")
        return status_text(self.state)

    def on_mount(self) -> None:
        self.query_one(MetricsView).show(self.state, last_epochs=len(self.state.history),
                                         matrix=self.matrix)
        matrix = self.query_one(ConfusionView)
        names = [c.name for c in matrix.report.per_class] if matrix.report is not None else []
        if self.cell is not None and all(name in names for name in self.cell):
            matrix.cursor = (names.index(self.cell[0]), names.index(self.cell[1]))
            matrix.focus()

    def action_pick_cell(self) -> None:
        """Put the keys on the matrix (its own enter then opens the cell)."""
        matrix = self.query_one(ConfusionView)
        if matrix.report is not None:
            matrix.focus()

    @on(ConfusionView.CellChosen)
    def _chosen(self, message: ConfusionView.CellChosen) -> None:
        message.stop()
        self.dismiss((message.true_class, message.predicted_class))

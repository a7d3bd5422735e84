"""A run's metrics: the per-epoch summary, the per-class table and the confusion matrix.

Used by the training panel and, full-screen, by the metrics screen (``M``). Class names are
the user's: every cell is a ``rich.text.Text``, never markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tui_label.metrics import Report
from tui_label.training import EpochPoint, RunState

PER_CLASS_COLUMNS = ("class", "precision", "recall", "F1", "support")


def epochs_text(history: list[EpochPoint], last: int = 6) -> Text:
    """The last few epochs' accuracy, macro-F1 and validation loss."""
    if not history:
        return Text()
    text = Text("epoch  accuracy  macro-F1  val loss", style="bold")
    for h in history[-last:]:
        text.append(f"\n{h.epoch:>5}  {h.accuracy:>8.3f}  {h.macro_f1:>8.3f}  {h.val_loss:>8.4f}")
    return text


def _fit(name: str, width: int) -> str:
    """``name`` cut to ``width`` characters (an ellipsis marks the cut)."""
    return name if len(name) <= width else name[: max(width - 1, 0)] + "…"


def confusion_text(report: Report, cell: int = 4, row_label: int = 7) -> Text:
    """Rows are true classes, columns predictions; the diagonal bold, errors red.

    ``cell`` is a column's width (names are cut to fit), ``row_label`` the row names' width.
    """
    names = [c.name for c in report.per_class]
    text = Text(" " * (row_label + 1))
    for name in names:
        text.append(f"{_fit(name, cell - 1):>{cell}}", style="bold")
    text.append("  ← predicted", style="dim")
    for t, row in enumerate(report.confusion):
        text.append(f"\n{_fit(names[t], row_label):>{row_label}} ")
        for p, n in enumerate(row):
            style = "bold" if t == p else ("red" if n else "dim")
            text.append(f"{n:>{cell}}", style=style)
    return text


def confusion_cell_width(report: Report, width: int, row_label: int) -> int:
    """The widest column (up to the longest name, 4 to 12) that fits ``width``."""
    n = max(len(report.per_class), 1)
    longest = max((len(c.name) for c in report.per_class), default=1)
    fits = (width - row_label - 1) // n
    return max(4, min(longest + 1, 12, fits))


class MetricsView(Vertical):
    """The metrics of ``RunState.report``: epochs, per-class table, confusion matrix.

    ``full`` widens the confusion matrix's columns to the space there is (the full-screen
    view); the panel keeps them narrow.
    """

    DEFAULT_CSS = """
    MetricsView { height: auto; }
    MetricsView #epochs { height: auto; margin: 0 0 1 0; }
    MetricsView DataTable { height: auto; margin: 0 0 1 0; }
    MetricsView #confusion { height: auto; }
    """

    def __init__(self, *, full: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.full = full
        self._report: Report | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="epochs")
        yield DataTable(id="per-class", cursor_type="none", zebra_stripes=True)
        yield Static("", id="confusion")

    def on_mount(self) -> None:
        self.query_one("#per-class", DataTable).add_columns(*PER_CLASS_COLUMNS)

    def show(self, state: RunState, *, last_epochs: int = 6) -> None:
        """Draw ``state``'s history and report (the table only when the report changed)."""
        self.query_one("#epochs", Static).update(epochs_text(state.history, last_epochs))
        if state.report is self._report:
            return
        self._report = report = state.report
        table = self.query_one("#per-class", DataTable)
        table.clear()
        confusion = self.query_one("#confusion", Static)
        if report is None:
            confusion.update("")
            return
        for c in report.per_class:
            table.add_row(Text(c.name), f"{c.precision:.2f}", f"{c.recall:.2f}", f"{c.f1:.2f}",
                          str(c.support))
        row_label = min(max((len(c.name) for c in report.per_class), default=1), 16) \
            if self.full else 7
        cell = confusion_cell_width(report, self.app.size.width - 4, row_label) \
            if self.full else 4
        title = Text.assemble(("confusion", "bold"), " (rows: true class)\n")
        confusion.update(title + confusion_text(report, cell, row_label))

"""A run's metrics: the per-epoch summary, the per-class table and the confusion matrix.

A multi-label run's metrics are measured at its threshold, shown above them; its table adds
each class's true positives, false positives and false negatives, and it has no confusion
matrix (an image may hold several classes, or none).

Used by the training panel and, full-screen, by the metrics screen (``M``). Class names are
the user's: every cell is a ``rich.text.Text``, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from tui_label.runs.metrics import Report
from tui_label.runs.state import EpochPoint, RunState
from tui_label.tui import styles

PER_CLASS_COLUMNS = ("class", "precision", "recall", "F1", "support")
MULTI_LABEL_COLUMNS = (*PER_CLASS_COLUMNS, "TP", "FP", "FN")
NO_CONFUSION = ("no confusion matrix in multi-label mode (an image may hold several classes "
                "or none): the table gives each class's TP, FP and FN")


def threshold_text(threshold: float) -> Text:
    """The line above a multi-label run's metrics."""
    text = Text("multi-label · ")
    text.append(f"threshold {threshold:.2f}", style="bold")
    text.append(" · accuracy is exact match (the whole set right)", style="dim")
    return text


def epochs_text(history: list[EpochPoint], last: int = 6,
                threshold: float | None = None) -> Text:
    """The last few epochs' accuracy, macro-F1 and validation loss; with a ``threshold``
    (a multi-label run) the threshold first, and micro-F1 too."""
    if not history:
        return Text()
    if threshold is None:
        text = Text("epoch  accuracy  macro-F1  val loss", style="bold")
        for h in history[-last:]:
            text.append(f"\n{h.epoch:>5}  {h.accuracy:>8.3f}  {h.macro_f1:>8.3f}  "
                        f"{h.val_loss:>8.4f}")
        return text
    text = threshold_text(threshold)
    text.append("\nepoch  accuracy  micro-F1  macro-F1  val loss", style="bold")
    for h in history[-last:]:
        micro = f"{h.micro_f1:>8.3f}" if h.micro_f1 is not None else f"{'-':>8}"
        text.append(f"\n{h.epoch:>5}  {h.accuracy:>8.3f}  {micro}  {h.macro_f1:>8.3f}  "
                    f"{h.val_loss:>8.4f}")
    return text


def _fit(name: str, width: int) -> str:
    """``name`` cut to ``width`` characters (an ellipsis marks the cut)."""
    return name if len(name) <= width else name[: max(width - 1, 0)] + "…"


def confusion_text(report: Report, cell: int = 4, row_label: int = 7,
                   cursor: tuple[int, int] | None = None) -> Text:
    """Rows are true classes, columns predictions; the diagonal bold, errors white on red.

    ``cell`` is a column's width (names are cut to fit), ``row_label`` the row names' width;
    ``cursor`` (true, predicted) is shown reversed.
    """
    names = [c.name for c in report.per_class]
    text = Text(" " * (row_label + 1))
    for name in names:
        text.append(f"{_fit(name, cell - 1):>{cell}}", style="bold")
    text.append("  ← predicted", style="dim")
    for t, row in enumerate(report.confusion):
        text.append(f"\n{_fit(names[t], row_label):>{row_label}} ")
        for p, n in enumerate(row):
            style = "bold" if t == p else (styles.BAD if n else "dim")
            if cursor == (t, p):
                style += " reverse"
            text.append(f"{n:>{cell}}", style=style)
    return text


CONFUSION_TITLE_LINES = 1  # "confusion (rows: true class)" above the matrix


class ConfusionView(Static, can_focus=True):
    """The confusion matrix. Focused, the arrow keys move a cursor over the cells and enter
    chooses one; a click chooses the cell under the mouse. Either posts ``CellChosen``: the
    labeler opens the images of that true and predicted class."""

    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("enter", "choose", "Open these images", show=False),
    ]

    @dataclass
    class CellChosen(Message):
        """Open the images labeled ``true_class`` that the model predicts as
        ``predicted_class`` (the run's class names)."""

        true_class: str
        predicted_class: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.report: Report | None = None
        self._note = False  # a multi-label report: say why there is no matrix
        self.cursor = (0, 0)
        self._cell, self._row_label = 4, 7
        self.source = ""  # what the counts are (a run's epoch, predictions), under the matrix
        self.openable = True  # whether a chosen cell is posted

    def show_report(self, report: Report | None, cell: int = 4, row_label: int = 7, *,
                    source: str = "", openable: bool = True) -> None:
        """Draw ``report``'s matrix with ``source`` (where its counts come from) below it; a
        multi-label report has none: a note says so, and there is no cell to choose.
        ``openable`` False: the cursor moves, but no cell is chosen."""
        self._note = report is not None and report.multi_label
        if self._note:
            report = None
        self.report, self._cell, self._row_label = report, cell, row_label
        self.source, self.openable = source, openable
        n = len(report.per_class) if report is not None else 0
        self.cursor = (min(self.cursor[0], max(n - 1, 0)), min(self.cursor[1], max(n - 1, 0)))
        self._draw()

    def _draw(self) -> None:
        if self.report is None:
            self.update(Text(NO_CONFUSION, style="dim") if self._note else "")
            return
        title = Text.assemble(("confusion", "bold"), " (rows: true class)")
        if self.has_focus:
            title.append("  arrows choose a cell · enter opens its images" if self.openable
                         else "  no predictions to open a cell with yet", style="dim")
        cursor = self.cursor if self.has_focus else None
        title.append("\n")
        text = title + confusion_text(self.report, self._cell, self._row_label, cursor)
        if self.source:  # below the cells: a wrapped line never moves them
            text.append("\n" + self.source, style="italic")
        self.update(text)

    def on_focus(self) -> None:
        self._draw()

    def on_blur(self) -> None:
        self._draw()

    def action_move(self, rows: int, columns: int) -> None:
        if self.report is None:
            return
        n = len(self.report.per_class)
        t, p = self.cursor
        self.cursor = (min(max(t + rows, 0), n - 1), min(max(p + columns, 0), n - 1))
        self._draw()

    def action_choose(self) -> None:
        if self.report is None or not self.report.per_class or not self.openable:
            return
        names = [c.name for c in self.report.per_class]
        t, p = self.cursor
        self.post_message(self.CellChosen(names[t], names[p]))

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        """The (true, predicted) cell at a content offset, or None outside the cells."""
        if self.report is None:
            return None
        n = len(self.report.per_class)
        t = y - CONFUSION_TITLE_LINES - 1  # the header row of class names
        p = (x - self._row_label - 1) // self._cell if x > self._row_label else -1
        return (t, p) if 0 <= t < n and 0 <= p < n else None

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        cell = offset and self.cell_at(offset.x, offset.y)
        if cell is not None:
            self.cursor = cell
            self.focus()
            self.action_choose()


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
    MetricsView #confusion:focus { background: $boost; }
    """

    def __init__(self, *, full: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.full = full
        self._report: Report | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="epochs")
        yield DataTable(id="per-class", cursor_type="none", zebra_stripes=True)
        yield ConfusionView(id="confusion")

    def on_mount(self) -> None:
        self.query_one("#per-class", DataTable).add_columns(*PER_CLASS_COLUMNS)

    def show(self, state: RunState, *, last_epochs: int = 6,
             matrix: tuple[Report, str] | None = None) -> None:
        """Draw ``state``'s history and report (the table only when the report changed). The
        confusion matrix is ``matrix`` (counts and where they are from) when given, else the
        report's, captioned with its run and epoch."""
        self.query_one("#epochs", Static).update(
            epochs_text(state.history, last_epochs, state.threshold))
        if state.report is self._report and matrix is None:
            return
        self._report = report = state.report
        table = self.query_one("#per-class", DataTable)
        columns = MULTI_LABEL_COLUMNS if report is not None and report.multi_label \
            else PER_CLASS_COLUMNS
        if len(table.columns) != len(columns):
            table.clear(columns=True)
            table.add_columns(*columns)
        table.clear()
        confusion = self.query_one("#confusion", ConfusionView)
        if report is None:
            if matrix is None:
                confusion.show_report(None)
            else:
                self._show_matrix(confusion, *matrix, openable=True)
            return
        for k, c in enumerate(report.per_class):
            counts = [str(c.tp), str(c.fp), str(c.fn)] if report.multi_label else []
            # Undefined, not measured zeros: no validation image of the class (recall), none
            # predicted as it (precision), neither (F1).
            if report.multi_label:
                predicted = (c.tp or 0) + (c.fp or 0)
            else:
                predicted = sum(row[k] for row in report.confusion) if report.confusion else 1
            table.add_row(Text(c.name), f"{c.precision:.2f}" if predicted else "—",
                          f"{c.recall:.2f}" if c.support else "—",
                          f"{c.f1:.2f}" if c.support or predicted else "—",
                          str(c.support), *counts)
        self._show_matrix(confusion, *(matrix or (report, validation_source(state))),
                          openable=matrix is not None or not self.full)

    def _show_matrix(self, confusion: ConfusionView, report: Report, source: str, *,
                     openable: bool) -> None:
        row_label = min(max((len(c.name) for c in report.per_class), default=1), 16) \
            if self.full else 7
        cell = confusion_cell_width(report, self.app.size.width - 4, row_label) \
            if self.full else 4
        confusion.show_report(report, cell, row_label, source=source, openable=openable)


def validation_source(state: RunState) -> str:
    """Where a run's reported matrix is from: its run, its epoch and its validation split."""
    report = state.report
    images = sum(map(sum, report.confusion)) if report is not None else 0
    of = f" of {state.epochs}" if state.epochs else ""
    return (f"run {state.run_id or '…'}, epoch {state.report_epoch}{of}: its validation "
            f"split ({images} image{'s' if images != 1 else ''}) at that epoch")

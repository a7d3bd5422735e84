"""The training side panel: settings, start/stop, and a run's live progress and metrics.

Attributes down: the screen calls ``show_state`` with a ``RunState``. Messages up: the panel
posts ``StartRequested`` with the settings and ``StopRequested``; it never starts anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Select, Static
from textual_plotext import PlotextPlot

from tui_label.metrics import Report
from tui_label.training import RunState

PLOT_INTERVAL_S = 1.0


def format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def confusion_text(report: Report, width: int = 4) -> str:
    """Rows are true classes, columns predictions; the diagonal is bold."""
    names = [c.name for c in report.per_class]
    short = [escape(n[: width - 1]) for n in names]
    head = " " * 8 + "".join(f"{s:>{width}}" for s in short) + "  ← predicted"
    lines = [head]
    for t, row in enumerate(report.confusion):
        cells = []
        for p, n in enumerate(row):
            text = f"{n:>{width}}"
            cells.append(f"[b]{text}[/]" if t == p else (f"[red]{text}[/]" if n else
                                                          f"[dim]{text}[/]"))
        lines.append(f"{escape(names[t][:7]):>7} " + "".join(cells))
    return "\n".join(lines)


class TrainPanel(VerticalScroll):
    """Fine-tuning beside the labeler."""

    DEFAULT_CSS = """
    TrainPanel { width: 62; border-left: solid $accent; padding: 0 1; background: $surface; }
    TrainPanel .row { height: 1; margin: 0 0 1 0; }
    TrainPanel .row Label { width: 8; }
    TrainPanel .row Input { width: 1fr; }
    TrainPanel .row Select { width: 1fr; }
    TrainPanel #train-title { text-style: bold; }
    TrainPanel #start { width: 1fr; margin: 0 0 1 0; }
    TrainPanel #train-status { height: auto; margin: 0 0 1 0; }
    TrainPanel PlotextPlot { height: 14; }
    TrainPanel #epochs { height: auto; margin: 1 0; }
    TrainPanel DataTable { height: auto; max-height: 14; }
    TrainPanel #confusion { height: auto; margin: 1 0; }
    """
    BINDINGS = [Binding("escape", "leave_settings", "Back to labeling", show=False)]

    @dataclass
    class StartRequested(Message):
        """Start a run with these settings (strings as typed)."""

        settings: dict

    class StopRequested(Message):
        """Stop the running run."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state = RunState()
        self._plotted = -1.0
        self._plotted_points = -1
        self._table_report: Report | None = None

    def compose(self) -> ComposeResult:
        yield Static("Training  [dim](t hides · T starts/stops · tab edits)[/]", id="train-title")
        for label, name, value in (("model", "model", "small-cnn"), ("epochs", "epochs", "10"),
                                   ("lr", "lr", "auto"), ("batch", "batch_size", "64"),
                                   ("size", "image_size", "auto")):
            with Horizontal(classes="row"):
                yield Label(label)
                yield Input(value, id=f"set-{name}", compact=True)
        with Horizontal(classes="row"):
            yield Label("device")
            yield Select([(d, d) for d in ("auto", "cpu", "cuda", "mps")], value="auto",
                         allow_blank=False, id="set-device", compact=True)
        yield Button("Start training (T)", id="start", variant="success", compact=True)
        yield Static("No run yet: label a few images of two or more classes, then start.",
                     id="train-status")
        yield PlotextPlot(id="loss-plot")
        yield Static("", id="epochs")
        yield DataTable(id="per-class", cursor_type="none", zebra_stripes=True)
        yield Static("", id="confusion")

    def on_mount(self) -> None:
        table = self.query_one("#per-class", DataTable)
        table.add_columns("class", "precision", "recall", "F1", "support")
        plt = self.query_one(PlotextPlot).plt
        plt.title("loss")

    # -- settings -------------------------------------------------------------------------

    def settings(self) -> dict:
        values = {name: self.query_one(f"#set-{name}", Input).value.strip()
                  for name in ("model", "epochs", "lr", "batch_size", "image_size")}
        values["device"] = str(self.query_one("#set-device", Select).value)
        return values

    def action_leave_settings(self) -> None:
        self.screen.set_focus(None)

    @on(Button.Pressed, "#start")
    def _pressed(self) -> None:
        self.toggle_run()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.screen.set_focus(None)

    def toggle_run(self) -> None:
        if self._state.active:
            self.post_message(self.StopRequested())
        else:
            self.post_message(self.StartRequested(self.settings()))

    # -- state ----------------------------------------------------------------------------

    def show_state(self, state: RunState, *, force: bool = False) -> None:
        if state is not self._state:  # another run: redraw everything, drop the old curve
            force = True
        self._state = state
        button = self.query_one("#start", Button)
        button.label = "Stop training (T)" if state.active else "Start training (T)"
        button.variant = "error" if state.active else "success"
        for widget in self.query("Input, Select"):
            widget.disabled = state.active
        self.query_one("#train-status", Static).update(self._status_text(state))
        now = time.monotonic()
        if force or (len(state.step_losses) != self._plotted_points
                     and now - self._plotted >= PLOT_INTERVAL_S) or not state.active:
            self._plot(state)
            self._plotted, self._plotted_points = now, len(state.step_losses)
        if state.report is not self._table_report:
            self._show_report(state)
            self._table_report = state.report

    def _status_text(self, s: RunState) -> str:
        if s.status == "idle":
            return "No run yet: label a few images of two or more classes, then start."
        head = f"run {s.run_id or '…'} · {escape(s.model)} · {s.device or '…'}"
        if s.status == "starting":
            return head + "\nstarting the trainer…"
        if s.status == "preparing":
            return head + f"\ndecoding images {s.prepared[0]}/{s.prepared[1]}…"
        lines = [head, f"{s.num_train} train / {s.num_val} validation images"]
        if s.status == "running":
            gpu = f" · GPU {s.gpu_memory_mb:.0f} MiB" if s.gpu_memory_mb else ""
            lines.append(f"[b]epoch {s.epoch}/{s.epochs}[/] · step {s.step}/{s.steps} · "
                         f"{s.images_per_sec:.0f} img/s · ETA {format_eta(s.eta_s)}{gpu}")
        elif s.status == "finished":
            best = max((h.accuracy for h in s.history), default=0.0)
            lines.append(f"[green]finished[/]: best accuracy {best:.3f}")
        else:
            lines.append(f"[red]{s.status}[/]: {escape(s.reason or '')}")
        for warning in s.warnings[-2:]:
            lines.append(f"[yellow]⚠ {escape(warning)}[/]")
        return "\n".join(lines)

    def _plot(self, s: RunState) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        if s.step_losses:
            plt.plot([x for x, _ in s.step_losses], [y for _, y in s.step_losses],
                     label="train", marker="braille")
        if s.history:
            plt.plot([h.epoch for h in s.history], [h.val_loss for h in s.history],
                     label="validation", marker="dot")
        plt.xlabel("epoch")
        widget.refresh()

    def _show_report(self, s: RunState) -> None:
        lines = ["[b]epoch  accuracy  macro-F1  val loss[/]"]
        for h in s.history[-6:]:
            lines.append(f"{h.epoch:>5}  {h.accuracy:>8.3f}  {h.macro_f1:>8.3f}  "
                         f"{h.val_loss:>8.4f}")
        self.query_one("#epochs", Static).update("\n".join(lines) if s.history else "")
        table = self.query_one("#per-class", DataTable)
        table.clear()
        if s.report is not None:
            for c in s.report.per_class:
                table.add_row(c.name, f"{c.precision:.2f}", f"{c.recall:.2f}", f"{c.f1:.2f}",
                              str(c.support))
        self.query_one("#confusion", Static).update(
            "[b]confusion[/] (rows: true class)\n" + confusion_text(s.report)
            if s.report is not None else "")

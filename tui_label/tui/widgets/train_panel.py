"""The training side panel: settings, start/stop, and a run's live progress and metrics.

Attributes down: the screen calls ``show_state`` with a ``RunState``, and ``restore`` with the
settings the database kept (and ``keep``, called when they change). Messages up: the panel
posts ``StartRequested`` with the settings and ``StopRequested``; it never starts anything.

The settings shown are ``PANEL_FIELDS``; their labels, defaults, choices and help come from
``TrainOptions``' fields. The panel takes a share of the width (the image keeps the rest) and
turns compact when narrow or short: the per-class table and confusion matrix then live only in
the full-screen metrics view (``M``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.events import DescendantFocus, Resize
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static
from textual.widgets.select import InvalidSelectValueError
from textual_plotext import PlotextPlot

from tui_label.runs.options import AUTO, OptionField, option_field
from tui_label.runs.state import RunState
from tui_label.tui import styles
from tui_label.tui.widgets.metrics_view import MetricsView

PLOT_INTERVAL_S = 1.0
# Which settings the panel offers, in reading order (two to a row).
PANEL_FIELDS = ("model", "epochs", "lr", "batch_size", "image_size", "device", "balance",
                "hflip", "gpus")
# Narrower or shorter than this, the panel turns compact.
COMPACT_WIDTH = 48
COMPACT_SCREEN_HEIGHT = 36
IDLE_TEXT = "No run yet: label a few images of two or more classes, then start."
TITLE_KEYS = "t hides · T start/stop · M metrics · tab edits"


def format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def setting_widget(f: OptionField) -> Widget:
    """The input for one training option: a list for choices and yes/no, else a text field."""
    if f.spec.choices or f.kind is bool:
        choices = f.spec.choices or ((AUTO,) if f.optional else ()) + ("yes", "no")
        widget: Widget = Select([(c, c) for c in choices], value=f.default_text,
                                allow_blank=False, id=f"set-{f.name}", compact=True)
    else:
        widget = Input(f.default_text, id=f"set-{f.name}", compact=True)
    auto = f" [default: {f.spec.auto}]" if f.spec.auto else ""
    widget.tooltip = Text(f.spec.help + auto)
    return widget


def status_text(s: RunState) -> Text:
    """What the run is doing, in a few lines (user strings never parsed as markup)."""
    if s.status == "idle":
        return Text(IDLE_TEXT)
    text = Text(f"run {s.run_id or '…'} · ")
    text.append(s.model)
    text.append(f" · {s.device or '…'}")
    if s.world_size > 1:
        text.append(f" · {s.world_size} processes (DDP)")
    if s.status == "starting":
        text.append("\nstarting the trainer…")
        return text
    if s.status == "preparing":
        text.append(f"\ndecoding images {s.prepared[0]}/{s.prepared[1]}…")
        return text
    if s.num_unlabeled:  # short enough for the 34 columns of the panel at 80x24
        text.append(f"\n{s.num_train} train / {s.num_val} val + {s.num_unlabeled} unlabeled")
    else:
        text.append(f"\n{s.num_train} train / {s.num_val} validation images")
    if s.threshold is not None:
        text.append(f" · multi-label, threshold {s.threshold:.2f}")
    if s.status == "running":
        gpu = f" · GPU {s.gpu_memory_mb:.0f} MiB" if s.gpu_memory_mb else ""
        if s.gpu_util is not None:
            gpu += f" {s.gpu_util:.0f}%"
        text.append("\n")
        text.append(f"epoch {s.epoch}/{s.epochs}", style="bold")
        text.append(f" · step {s.step}/{s.steps} · {s.images_per_sec:.0f} img/s · "
                    f"ETA {format_eta(s.eta_s)}{gpu}")
    elif s.status == "finished":
        best = max((h.accuracy for h in s.history), default=0.0)
        text.append("\n")
        text.append("finished", style=styles.GOOD)
        text.append(f": best {'exact-match ' if s.multi_label else ''}accuracy {best:.3f}")
    else:
        text.append("\n")
        text.append(s.status, style=styles.BAD)
        text.append(f": {s.reason or ''}")
        if s.resumable:
            text.append("\n")
            text.append("R", style="bold")
            text.append(f" resumes it from its last checkpoint (epoch {s.epoch} of {s.epochs})")
    for warning in s.warnings[-2:]:
        text.append("\n")
        text.append(f"⚠ {warning}", style=styles.WARNING)
    return text


LEGEND_ROOM = 0.45  # of the losses' range, above the highest


class TrainPanel(VerticalScroll):
    """Fine-tuning beside the labeler."""

    DEFAULT_CSS = """
    TrainPanel {
        width: 40%; min-width: 38; max-width: 64;
        border-left: solid $accent; padding: 0 1; background: $surface;
        scrollbar-size-vertical: 1;
    }
    TrainPanel #train-title { height: auto; }
    TrainPanel #settings {
        grid-size: 4; grid-columns: auto 1fr auto 1fr; grid-rows: 1; grid-gutter: 0 1;
        height: auto; margin: 1 0;
    }
    TrainPanel #settings Input, TrainPanel #settings Select { width: 1fr; }
    /* Plain black on green, not bold: a 16-colour xterm turns bold black into grey. */
    TrainPanel #start {
        width: 1fr; margin: 0 0 1 0; color: black; background: $success;
        text-style: none; border: none;
    }
    TrainPanel #start.-running { background: $warning; }
    TrainPanel #start:focus { text-style: underline; }
    TrainPanel #train-status, TrainPanel #setting-help { height: auto; }
    TrainPanel #metrics-hint { height: auto; margin: 1 0 0 0; }
    TrainPanel PlotextPlot { height: 12; margin: 1 0 0 0; }
    TrainPanel MetricsView { margin: 1 0 0 0; }
    TrainPanel.-compact #settings { margin: 0; }
    TrainPanel.-compact #metrics-hint { margin: 0; }
    TrainPanel.-compact PlotextPlot { height: 9; }
    TrainPanel.-compact #per-class, TrainPanel.-compact #confusion { display: none; }
    """
    BINDINGS = [Binding("escape", "leave_settings", "Back to labeling", show=False)]

    @dataclass
    class StartRequested(Message):
        """Start a run with these settings (the text of each field, by field name)."""

        settings: dict

    @dataclass
    class StopRequested(Message):
        """Stop the running run."""

    @dataclass
    class AutoTrainChanged(Message):
        """Retrain after every ``every`` new labels (0: never)."""

        every: int

    def __init__(self, *, id: str | None = None, auto_train: int = 0) -> None:
        super().__init__(id=id)
        self._auto_train = auto_train
        self._state = RunState()
        self._plotted = -1.0
        self._plotted_points = -1
        self._kept: dict[str, str] | None = None  # the settings last kept or restored
        self._keep: Callable[[dict[str, str]], object] | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="train-title")
        with Grid(id="settings"):
            for name in PANEL_FIELDS:
                f = option_field(name)
                yield Label(f.label)
                yield setting_widget(f)
            yield Label("auto")
            auto = Input(str(self._auto_train), id="auto-train", compact=True,
                         restrict=r"[0-9]*", max_length=6)
            auto.tooltip = Text("Start a run after every N new labels when none is going "
                                "(0: off); its predictions reorder the queue when they land")
            yield auto
        yield Static("", id="setting-help")  # the focused setting's help: no mouse needed
        yield Button("Start training (T)", id="start", compact=True)
        yield Static(IDLE_TEXT, id="train-status")
        yield Static("", id="metrics-hint")
        yield PlotextPlot(id="loss-plot")
        yield MetricsView(id="panel-metrics")

    def on_mount(self) -> None:
        self.query_one(PlotextPlot).plt.title("loss")
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._chart_theme())
        self._chart_theme()

    def _chart_theme(self) -> None:
        """In the terminal's palette (an ANSI theme, 16 colours) the chart's canvas, axes,
        ticks and legend are the terminal's own colours (plotext's "clear"): Textual's theme
        for it would be black on black."""
        self.query_one(PlotextPlot).theme = "clear" if self.app.current_theme.ansi else "auto"

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def on_resize(self, event: Resize) -> None:
        compact = event.size.width < COMPACT_WIDTH or self.screen.size.height < \
            COMPACT_SCREEN_HEIGHT
        if compact != self.compact:
            self.set_class(compact, "-compact")
            self.query_one("#train-title", Static).update(self._title())
            self._show_hint(self._state)

    def _title(self) -> Text:
        text = Text("Training", style="bold")
        if self.has_class("-compact"):
            text.append("  M: metrics", style="dim")
        else:
            text.append(f"  {TITLE_KEYS}", style="dim")
        return text

    # -- settings -------------------------------------------------------------------------

    def settings(self) -> dict[str, str]:
        """The text of each setting, by ``TrainOptions`` field name."""
        values = {}
        for name in PANEL_FIELDS:
            widget = self.query_one(f"#set-{name}")
            values[name] = str(widget.value).strip()
        return values

    def restore(self, values: dict[str, str], *,
                keep: Callable[[dict[str, str]], object] | None = None) -> None:
        """Put back saved settings (``{field name: text}``; unknown names and choices no
        longer offered stay at their defaults); ``keep(settings)`` is called with the
        settings each time a field is left or a choice made with something new."""
        for name in PANEL_FIELDS:
            if name in values:
                widget = self.query_one(f"#set-{name}")
                try:
                    widget.value = values[name]
                except InvalidSelectValueError:  # a choice no longer offered
                    pass
        self._kept, self._keep = self.settings(), keep

    def _maybe_changed(self) -> None:
        now = self.settings()
        if self._keep is not None and self._kept is not None and now != self._kept:
            self._keep(now)
        self._kept = now

    @on(Select.Changed)
    @on(Input.Blurred)
    def _setting_changed(self, event: Select.Changed | Input.Blurred) -> None:
        if (event.control.id or "").startswith("set-"):
            self._maybe_changed()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        """Show the help of the setting that has the keys (it is the tooltip too)."""
        node = event.widget
        while node is not None and node is not self and not (node.id or "").startswith(
                ("set-", "auto-train")):
            node = node.parent
        help_line = self.query_one("#setting-help", Static)
        if isinstance(node, Widget) and node is not self and node.tooltip is not None:
            help_line.update(Text("ⓘ ").append_text(Text(str(node.tooltip), style="italic")))
        else:
            help_line.update("")

    def on_descendant_blur(self) -> None:
        self.query_one("#setting-help", Static).update("")

    def action_leave_settings(self) -> None:
        self.screen.set_focus(None)

    @on(Button.Pressed, "#start")
    def _pressed(self) -> None:
        self.toggle_run()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.screen.set_focus(None)

    @on(Input.Changed, "#auto-train")
    def _auto_train_changed(self, event: Input.Changed) -> None:
        every = int(event.value or 0)
        if every != self._auto_train:
            self._auto_train = every
            self.post_message(self.AutoTrainChanged(every))

    def toggle_run(self) -> None:
        if self._state.active:
            self.post_message(self.StopRequested())
        else:
            self.post_message(self.StartRequested(self.settings()))

    # -- state ----------------------------------------------------------------------------

    def show_state(self, state: RunState, *, force: bool = False) -> None:
        """Draw ``state`` (the curve at most once a second while a run goes)."""
        if state is not self._state:  # another run: redraw everything, drop the old curve
            force = True
        self._state = state
        button = self.query_one("#start", Button)
        button.label = "Stop training (T)" if state.active else "Start training (T)"
        button.set_class(state.active, "-running")
        for widget in self.query("#settings Input, #settings Select"):
            widget.disabled = state.active and widget.id != "auto-train"
        self.query_one("#train-status", Static).update(status_text(state))
        self._show_hint(state)
        now = time.monotonic()
        if force or (len(state.step_losses) != self._plotted_points
                     and now - self._plotted >= PLOT_INTERVAL_S) or not state.active:
            self._plot(state)
            self._plotted, self._plotted_points = now, len(state.step_losses)
        self.query_one(MetricsView).show(state, last_epochs=3 if self.compact else 6)

    def _show_hint(self, state: RunState) -> None:
        """Say where the per-class metrics are: below (wide) or behind ``M`` (compact)."""
        hint = self.query_one("#metrics-hint", Static)
        if state.report is None:
            hint.update("")
            return
        text = Text("▸ ")
        text.append("M", style="bold")
        below = "per-class TP/FP/FN" if state.multi_label else "confusion matrix"
        if self.compact:
            text.append(f": per-class metrics, {below}", style="italic")
        else:
            text.append(f": metrics full screen · per-class table and {below} below ↓",
                        style="italic")
        hint.update(text)

    def _plot(self, s: RunState) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        # 16 colours: the train curve in the terminal's foreground, validation in bright blue
        # (3:1 or more on a light or a dark palette); else plotext's own sequence
        ansi = self.app.current_theme.ansi
        if s.step_losses:
            plt.plot([x for x, _ in s.step_losses], [y for _, y in s.step_losses],
                     label="train", marker="braille", color="default" if ansi else None)
        if s.history:
            plt.plot([h.epoch for h in s.history], [h.val_loss for h in s.history],
                     label="validation", marker="dot", color="blue+" if ansi else None)
        ys = [y for _, y in s.step_losses] + [h.val_loss for h in s.history]
        if ys and max(ys) > min(ys):
            # Room above the curves for the legend (two rows at the top left): it hid the
            # first epochs' points, which are the highest.
            plt.ylim(min(ys), max(ys) + LEGEND_ROOM * (max(ys) - min(ys)))
        else:
            plt.ylim(None, None)  # plotext's own range (not the last run's)
        plt.xlabel("epoch")
        widget.refresh()

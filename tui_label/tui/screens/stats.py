"""``%``: labeling statistics full screen (per class, per annotator, agreement).

The same text as ``tui-label stats``, computed on a worker thread with its own connection, so
a large event log never stalls the keys; esc closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from tui_label.dataio.stats import Stats
from tui_label.dataio.stats.render import render
from tui_label.labeling import jobs as background


class StatsScreen(ModalScreen[None]):
    """A snapshot of the statistics of the database at ``db``; ``r`` counts again."""

    DEFAULT_CSS = """
    StatsScreen { align: center middle; }
    StatsScreen VerticalScroll {
        width: 100%; height: 100%; border: round $accent; background: $surface;
        padding: 0 1;
    }
    StatsScreen #stats-title { height: auto; margin: 0 0 1 0; }
    StatsScreen #stats-body { height: auto; }
    """
    BINDINGS = [Binding("escape,percent_sign,q", "dismiss", "Close", show=False),
                Binding("r", "refresh_stats", "Refresh", show=False)]

    @dataclass
    class Computed(Message):
        """The statistics, computed on the worker thread."""

        stats: Stats

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db
        self.stats: Stats | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            title = Text("Statistics", style="bold")
            title.append("  (esc closes · r counts again · ↑/↓ scroll)")
            yield Static(title, id="stats-title")
            yield Static(Text("Counting…"), id="stats-body")

    def on_mount(self) -> None:
        self.compute()

    def action_refresh_stats(self) -> None:
        self.query_one("#stats-body", Static).update(Text("Counting…"))
        self.compute()

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False, name="statistics")
    def compute(self) -> None:
        self.post_message(self.Computed(background.statistics(self.db)))

    @on(Computed)
    def _computed(self, message: Computed) -> None:
        self.stats = message.stats
        self.query_one("#stats-body", Static).update(render(message.stats))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.query_one("#stats-body", Static).update(
                Text(f"The statistics could not be computed: {event.worker.error}"))

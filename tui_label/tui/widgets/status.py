"""The status line: where you are, how much is done, how fast, and the image's label."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from tui_label.core.types import Counts


@dataclass
class StatusInfo:
    position: int  # 1-based; 0 when the queue is empty
    queue_length: int
    counts: Counts
    per_minute: float | None  # over active time (core/pace.py); None: too little time yet
    path: str
    label: str  # "cat", "skipped", "unlabeled", "unreadable: ..."
    order: str


class StatusBar(Widget):
    """Two lines: counts, speed and a progress bar; then the image's path and label."""

    DEFAULT_CSS = """
    StatusBar { height: 2; background: $panel; }
    StatusBar Horizontal { height: 1; }
    StatusBar #counts { width: 1fr; padding: 0 1; }
    /* A short bar: the counts line also names the order and the model's run. */
    StatusBar ProgressBar { width: 24; padding: 0 1; }
    StatusBar ProgressBar Bar { width: 16; }
    StatusBar #image-line { height: 1; padding: 0 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(id="counts")
            yield ProgressBar(show_eta=False, id="progress")
        yield Static(id="image-line")

    def show(self, info: StatusInfo) -> None:
        c = info.counts
        pace = "–" if info.per_minute is None else f"{info.per_minute:.0f}"
        # The order names a class (user data): plain Text, never markup.
        self.query_one("#counts", Static).update(Text.assemble(
            (str(info.position), "bold"), f"/{info.queue_length}  labeled ",
            (str(c.labeled), "bold"),
            f" · skipped {c.skipped} · remaining {c.remaining}  · {pace}/min"
            f"  · order: {info.order}",
        ))
        self.query_one("#progress", ProgressBar).update(
            total=max(c.total, 1), progress=c.labeled + c.skipped
        )
        # Paths are user data: plain Text, never markup.
        self.query_one("#image-line", Static).update(
            Text.assemble(info.path, "  ", (info.label, "bold"))
        )

"""The status line: where you are, how much is done, how fast, and the image's label."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from tui_label.core.types import Counts, ImageState
from tui_label.labeling.change import Change


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
    /* A refused key: the whole bar flashes (tmux mutes the bell by default). */
    StatusBar.refused { background: $error; }
    StatusBar.refused #image-line { color: $text; }
    StatusBar.refused:ansi { background: ansi_red; }
    StatusBar.refused:ansi Static { color: ansi_bright_white; }
    """
    FLASH_SECONDS = 0.35
    PREVIOUS_SECONDS = 1.5  # the last label stays in view this long after the image changes

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._info: StatusInfo | None = None
        self._previous: str | None = None
        self._pending: dict[str, Timer] = {}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(id="counts")
            yield ProgressBar(show_eta=False, id="progress")
        yield Static(id="image-line")

    def refused(self) -> None:
        """A key that did nothing: the bell, and the bar flashes (seen where bells are not)."""
        self.app.bell()
        self.add_class("refused")
        self._after("flash", self.FLASH_SECONDS, lambda: self.remove_class("refused"))

    def after_key(self, what: str, change: Change,
                  describe: Callable[[int, ImageState], str]) -> None:
        """A label or skip moved on: what it wrote stays in view beside the next image."""
        if what != "undo" and change.moved and change.image_id is not None \
                and change.after is not None:
            self.previous(describe(change.image_id, change.after))

    def previous(self, text: str) -> None:
        """The label just given (``text``), shown beside the next image for a moment: a wrong
        key is noticed after the screen moved on."""
        self._previous = text

        def gone() -> None:
            self._previous = None
            if self._info is not None:
                self.show(self._info)

        self._after("previous", self.PREVIOUS_SECONDS, gone)

    def _after(self, name: str, seconds: float, call) -> None:
        if name in self._pending:
            self._pending[name].stop()
        self._pending[name] = self.set_timer(seconds, call)

    def show(self, info: StatusInfo) -> None:
        self._info = info
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
        previous = ("", "") if self._previous is None else (f"   · last: {self._previous}", "")
        self.query_one("#image-line", Static).update(
            Text.assemble(info.path, "  ", (info.label, "bold"), previous)
        )

"""``?``: every key the labeler understands, with what it does."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_label.keys import BINDINGS
from tui_label.store import ClassRow


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll {
        width: 64; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", show=False),
    ]

    def __init__(self, classes: list[ClassRow]) -> None:
        super().__init__()
        self._classes = classes

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for row in self._classes:
            if row.hotkey:
                table.add_row(row.hotkey, f"label as {row.name!r} and go to the next image")
        for spec in BINDINGS:
            table.add_row(spec.display if spec.keys != "u,ctrl+z" else "u, ctrl+z", spec.description)
        with VerticalScroll():
            yield Static("[b]Keys[/]  (labels are saved as you press them)\n")
            yield Static(table)
            yield Static("\n[dim]esc or ? closes this help[/]")

    def on_key(self, event) -> None:  # any other key closes too
        if event.key not in ("up", "down", "pageup", "pagedown"):
            event.stop()
            self.dismiss()

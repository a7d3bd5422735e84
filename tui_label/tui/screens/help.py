"""``?``: every key the labeler understands, with what it does."""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_label.core.keys import BINDINGS, SCHEME_HELP
from tui_label.core.types import ClassRow

KEYS_WIDTH = 12
TEXT_WIDTH = 44  # the box's 64 columns less its border, padding, scrollbar and the keys


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

    def __init__(self, classes: list[ClassRow], *, multi_label: bool = False) -> None:
        super().__init__()
        self._label_classes = classes
        self._multi_label = multi_label

    def compose(self) -> ComposeResult:
        if self._multi_label:
            rows = [(row.hotkey, f"add or remove {row.name} on this image")
                    for row in self._label_classes if row.hotkey]
            rows.append(("⏎", "Save the classes toggled on this image (none: no class "
                              "applies) and go to the next image"))
            specs = [s for s in BINDINGS if s.action != "accept"]  # no suggestions here
        else:
            rows = [(row.hotkey, f"label as {row.name} and go to the next image")
                    for row in self._label_classes if row.hotkey]
            specs = list(BINDINGS)
        rows += [(spec.help_keys, spec.help) for spec in specs]
        # Class names are user data: Text, never markup (escape() misses an unclosed "[red").
        # A long description goes on under itself, not under the keys.
        hang = "\n" + " " * (KEYS_WIDTH + 2)
        lines = Text("\n").join(
            Text.assemble((f"{key:>{KEYS_WIDTH}}", "bold"), "  ",
                          hang.join(textwrap.wrap(text, TEXT_WIDTH) or [""]))
            for key, text in rows)
        with VerticalScroll():
            saved = "when you press enter" if self._multi_label else "the moment you press its key"
            # The way out first: on a short terminal the end of the list is below the fold.
            yield Static(f"[b]Keys[/]  [dim]esc or ? closes · ↑/↓ scroll[/]\n"
                         f"Every label is saved {saved}.\n")
            yield Static(Text(SCHEME_HELP + "\n"), id="help-scheme")
            yield Static(lines, id="help-keys")

    def on_key(self, event) -> None:  # any other key closes too
        if event.key not in ("up", "down", "pageup", "pagedown"):
            event.stop()
            self.dismiss()

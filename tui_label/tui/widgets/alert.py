"""One line that says why the last key did nothing (a failed write), hidden otherwise."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Alert(Static):
    """Plain text on the error colour; empty hides it."""

    DEFAULT_CSS = """
    Alert { height: auto; padding: 0 1; background: $error; color: $text; text-style: bold;
            display: none; }
    /* 16 colours: the terminal's foreground on red is 3.6:1 where it is black */
    Alert:ansi { background: ansi_red; color: ansi_bright_white; }
    """

    def say(self, text: str | None) -> None:
        if not text and not self.display:
            return  # already hidden: no refresh on every key
        self.update(Text(text or ""))
        self.display = bool(text)

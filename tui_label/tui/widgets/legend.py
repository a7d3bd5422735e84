"""One line naming every class with its hotkey and count."""

from __future__ import annotations

from collections.abc import Collection

from rich.text import Text
from textual.widgets import Static

from tui_label.core.types import ClassRow


class Legend(Static):
    """``1 cat 12   2 dog 7 ...``; the shown image's classes are highlighted."""

    DEFAULT_CSS = """
    Legend { height: auto; padding: 0 1; background: $boost; }
    """

    def show(self, classes: list[ClassRow], per_class: dict[int, int],
             current: Collection[int] = ()) -> None:
        # Class names are user data: built as Text, never parsed as markup.
        text = Text()
        for row in classes:
            if row.hotkey is None:
                continue
            if text:
                text.append("  ")
            count = per_class.get(row.id, 0)
            if row.id in current:
                text.append(f"[{row.hotkey}] {row.name} ({count})", style="bold reverse")
            else:
                text.append(f"[{row.hotkey}]", style="bold " + self._accent())
                text.append(f" {row.name} ")
                text.append(f"({count})", style="dim")
        self.update(text)

    def _accent(self) -> str:
        try:
            accent = self.app.current_theme.accent or "blue"
        except Exception:  # no app yet (tests build widgets alone)
            return "blue"
        # An ANSI theme (a 16-colour terminal): the terminal's own foreground, bold, readable
        # on whatever palette it has (green on a white xterm is not).
        return "" if accent.startswith("ansi_") else accent

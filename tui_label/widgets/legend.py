"""One line naming every class with its hotkey and count."""

from __future__ import annotations

from textual.markup import escape
from textual.widgets import Static

from tui_label.store import ClassRow


class Legend(Static):
    """``1 cat 12   2 dog 7 ...``; the shown image's class is highlighted."""

    DEFAULT_CSS = """
    Legend { height: auto; padding: 0 1; background: $boost; }
    """

    def show(self, classes: list[ClassRow], per_class: dict[int, int], current: int | None) -> None:
        parts = []
        for row in classes:
            if row.hotkey is None:
                continue
            name = escape(row.name)
            count = per_class.get(row.id, 0)
            if row.id == current:
                parts.append(f"[reverse][b]\\[{row.hotkey}][/b] {name} ({count})[/reverse]")
            else:
                parts.append(f"[b $accent]\\[{row.hotkey}][/] {name} [dim]({count})[/]")
        self.update("  ".join(parts))

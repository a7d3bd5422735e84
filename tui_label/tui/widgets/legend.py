"""The classes with their hotkeys and counts, in as many lines as the width needs."""

from __future__ import annotations

from collections.abc import Collection

from rich.text import Text
from textual.events import Resize
from textual.widgets import Static

from tui_label.core.types import ClassRow

GAP = "  "  # between two classes: the only place a line of the legend breaks


def lay_out(pairs: list[Text], width: int) -> Text:
    """``pairs`` (one ``[key] name (count)`` each) in lines of at most ``width`` cells: a line
    breaks between two pairs, never inside one, so a key is never left at the end of a line
    away from its name. A pair wider than a whole line is cut short with an ellipsis; a
    ``width`` under 1 (not laid out yet) gives one line."""
    lines: list[Text] = []
    line = Text()
    for pair in pairs:
        if 0 < width < pair.cell_len:
            pair = pair.copy()
            pair.truncate(width, overflow="ellipsis")
        if line and 0 < width < line.cell_len + len(GAP) + pair.cell_len:
            lines.append(line)
            line = Text()
        if line:
            line.append(GAP)
        line.append_text(pair)
    lines.append(line)
    return Text("\n").join(lines)


class Legend(Static):
    """``[1] cat (12)  [2] dog (7) ...``; the shown image's classes are highlighted."""

    DEFAULT_CSS = """
    Legend { height: auto; padding: 0 1; background: $boost; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pairs: list[Text] = []
        self._laid_out: tuple[int, list[Text]] | None = None

    def show(self, classes: list[ClassRow], per_class: dict[int, int],
             current: Collection[int] = ()) -> None:
        # Class names are user data: built as Text, never parsed as markup. Control
        # characters in a name (a newline) would break a line where the legend did not.
        pairs = []
        for row in classes:
            if row.hotkey is None:
                continue
            name = "".join(ch if ch.isprintable() else " " for ch in row.name)
            count = per_class.get(row.id, 0)
            if row.id in current:
                pairs.append(Text(f"[{row.hotkey}] {name} ({count})", style="bold reverse"))
            else:
                pairs.append(Text.assemble((f"[{row.hotkey}]", "bold " + self._accent()),
                                           f" {name} ", (f"({count})", "dim")))
        self._pairs = pairs
        self._draw()

    def on_resize(self, event: Resize) -> None:
        self._draw()

    def _draw(self) -> None:
        width = self.content_size.width
        if self._laid_out == (width, self._pairs):
            return  # the same lines: no relayout (a resize of the height alone)
        self._laid_out = (width, self._pairs)
        self.update(lay_out(self._pairs, width))

    def _accent(self) -> str:
        try:
            accent = self.app.current_theme.accent or "blue"
        except Exception:  # no app yet (tests build widgets alone)
            return "blue"
        # An ANSI theme (a 16-colour terminal): the terminal's own foreground, bold, readable
        # on whatever palette it has (green on a white xterm is not).
        return "" if accent.startswith("ansi_") else accent

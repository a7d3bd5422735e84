"""Fewer bytes for every line Textual writes: colour codes only where the colour changes.

Textual renders each segment of a line as ``ESC [ codes m text ESC [ 0 m``: the whole style,
then a reset. Half-block images change colour nearly every cell, so most of their bytes are
those codes (about 40 a cell), and over SSH bytes are time (issue 11). ``render_strip`` writes
the same cells with a running pen instead: no code when a segment's style is the pen's, only
the foreground or the background when only that changed, a reset and the whole style when the
attributes (bold, italic, ...) change, and one reset at the end of the line, where Textual's
own output also leaves the terminal. Links (OSC 8) are written as Textual writes them.

``tui_label.tui.renderers.install_sgr()`` puts it in place of ``textual.strip.Strip.render``
(the labeler calls it once); the result on screen is the same cell for cell
(tests/tui/test_sgr.py replays both through a model of a terminal's SGR state).
"""

from __future__ import annotations

from functools import lru_cache

from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from textual.strip import SGR_STYLES, Strip

RESET = "\x1b[0m"


@lru_cache(maxsize=16384)
def pen_of(style: Style, color_system: ColorSystem) -> tuple[str, str, str]:
    """A style as ``(attribute codes, foreground codes, background codes)``, each ``;``-joined
    (``''`` where it sets none)."""
    attributes = style._attributes & style._set_attributes  # noqa: SLF001 (as Textual does)
    codes = [SGR_STYLES[bit] for bit in range(attributes.bit_length()) if attributes & (1 << bit)]
    fg = style._color  # noqa: SLF001
    bg = style._bgcolor  # noqa: SLF001
    return (";".join(codes),
            ";".join(fg.downgrade(color_system).get_ansi_codes()) if fg is not None else "",
            ";".join(bg.downgrade(color_system).get_ansi_codes(False)) if bg is not None
            else "")


def render_strip(strip: Strip, console: Console) -> str:
    """``Strip.render`` with a running pen (see the module's docstring); cached as Textual
    caches its own."""
    if strip._render_cache is not None:  # noqa: SLF001
        return strip._render_cache  # noqa: SLF001
    color_system = console._color_system or ColorSystem.TRUECOLOR  # noqa: SLF001
    out: list[str] = []
    pen: tuple[str, str, str] | None = None  # None: the terminal's default (reset) state
    for text, style, _control in strip._segments:  # noqa: SLF001
        if style is not None and style._link:  # noqa: SLF001
            if pen is not None:
                out.append(RESET)
                pen = None
            out.append(Strip.render_style(style, text, color_system=color_system))
            continue
        new = pen_of(style, color_system) if style is not None else None
        if new == ("", "", ""):
            new = None
        if new != pen:
            if new is None:
                out.append(RESET)
            elif pen is None or new[0] != pen[0]:
                out.append(f"\x1b[0;{';'.join(c for c in new if c)}m")
            else:
                changed = [new[1] or "39"] if new[1] != pen[1] else []
                if new[2] != pen[2]:
                    changed.append(new[2] or "49")
                out.append(f"\x1b[{';'.join(changed)}m")
            pen = new
        out.append(text)
    if pen is not None:
        out.append(RESET)
    strip._render_cache = "".join(out)  # noqa: SLF001
    return strip._render_cache  # noqa: SLF001

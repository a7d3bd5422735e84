"""WCAG contrast of what the app draws in a 16-colour terminal, cell by cell, under real
terminals' palettes (issue 17.5).

A 16-colour terminal shows an ANSI colour (0-15) in its own palette and "default" in its own
foreground and background; Rich downgrades any other colour to the nearest of the 16 before it
goes on the wire. So a cell's contrast depends on the palette: the same screen is measured
under a light one (xterm's default: black on white) and dark ones (``xterm -rv``, PuTTY's
default). As those terminals do, bold turns colours 0-7 into 8-15 (xterm's ``boldColors``,
PuTTY's bold-as-colour) and faint (SGR 2) multiplies each channel by 2/3 (xterm's formula).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rich.color import Color, ColorSystem, ColorType
from rich.style import Style

RGB = tuple[int, int, int]

XTERM = ((0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205),
         (0, 205, 205), (229, 229, 229), (127, 127, 127), (255, 0, 0), (0, 255, 0),
         (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255))
PUTTY = ((0, 0, 0), (187, 0, 0), (0, 187, 0), (187, 187, 0), (0, 0, 187), (187, 0, 187),
         (0, 187, 187), (187, 187, 187), (85, 85, 85), (255, 85, 85), (85, 255, 85),
         (255, 255, 85), (85, 85, 255), (255, 85, 255), (85, 255, 255), (255, 255, 255))

TEXT_CONTRAST = 4.5  # WCAG 1.4.3, text
GRAPHIC_CONTRAST = 3.0  # WCAG 1.4.11, lines and bars (box drawing, blocks, braille)


@dataclass(frozen=True)
class Palette:
    name: str
    fg: RGB  # the default foreground
    bg: RGB  # the default background
    colors: tuple[RGB, ...]  # ANSI 0-15
    bold_fg: RGB | None = None  # the default foreground when bold (PuTTY: bright white)


PALETTES = (
    Palette("xterm light", (0, 0, 0), (255, 255, 255), XTERM),
    Palette("xterm -rv (dark)", (255, 255, 255), (0, 0, 0), XTERM),
    Palette("PuTTY (dark)", (187, 187, 187), (0, 0, 0), PUTTY, bold_fg=(255, 255, 255)),
)


def luminance(rgb: RGB) -> float:
    c = [v / 255 / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in rgb]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two sRGB colours (1 to 21)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def ansi_number(color: Color | None) -> int | None:
    """The ANSI colour (0-15) a colour is sent as in 16 colours; None: the default."""
    if color is None or color.type == ColorType.DEFAULT:
        return None
    return color.downgrade(ColorSystem.STANDARD).number


def cell_colors(style: Style | None, palette: Palette) -> tuple[RGB, RGB]:
    """The (foreground, background) a terminal with ``palette`` shows a cell of ``style`` in."""
    style = style or Style()
    fg_n, bg_n = ansi_number(style.color), ansi_number(style.bgcolor)
    if style.bold and fg_n is not None and fg_n < 8:
        fg_n += 8
    if fg_n is not None:
        fg = palette.colors[fg_n]
    else:
        fg = palette.bold_fg if style.bold and palette.bold_fg else palette.fg
    bg = palette.colors[bg_n] if bg_n is not None else palette.bg
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:
        fg = (fg[0] * 2 // 3, fg[1] * 2 // 3, fg[2] * 2 // 3)
    return fg, bg


def is_graphic(char: str) -> bool:
    """Box drawing, blocks and geometric shapes, braille, the chart's dot marker (•): lines,
    bars and data points, not text."""
    return 0x2500 <= ord(char) <= 0x25FF or 0x2800 <= ord(char) <= 0x28FF or char == "•"


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    char: str
    style: Style | None


def screen_cells(app, skip: Iterable = ()) -> Iterator[Cell]:
    """Every non-blank cell on the app's screen as drawn now (after the app's line filters),
    outside the regions in ``skip`` (the photo: its pixels are not the theme's)."""
    skip = list(skip)
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        x = 0
        for segment in strip:
            if segment.control:
                continue
            for char in segment.text:
                if char.strip() and not any(r.contains(x, y) for r in skip):
                    yield Cell(x, y, char, segment.style)
                x += 1


def low_contrast(cells: Iterable[Cell], lines: list[str]) -> list[str]:
    """A line per (palette, style, kind) below its threshold, naming the text it was found in."""
    found: dict[tuple, str] = {}
    for cell in cells:
        graphic = is_graphic(cell.char)
        need = GRAPHIC_CONTRAST if graphic else TEXT_CONTRAST
        for palette in PALETTES:
            ratio = contrast(*cell_colors(cell.style, palette))
            key = (palette.name, str(cell.style), graphic)
            if ratio < need and key not in found:
                context = lines[cell.y][max(cell.x - 12, 0): cell.x + 20].strip()
                found[key] = (f"{palette.name}: {ratio:.2f} < {need} "
                              f"{'graphic' if graphic else 'text'} {cell.char!r} in "
                              f"{context!r} ({cell.style})")
    return sorted(found.values())


def screen_lines(app) -> list[str]:
    """The screen's text, a string per row."""
    return ["".join(s.text for s in strip if not s.control)
            for strip in app.screen._compositor.render_strips()]

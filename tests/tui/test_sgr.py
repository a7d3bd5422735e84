"""Colour codes only where the colour changes (tui_label.tui.widgets.sgr): the same cells as
Textual's own rendering, in fewer bytes."""

from __future__ import annotations

import random
import re

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from tui_label.tui import renderers
from tui_label.tui.widgets import sgr
from tui_label.tui.widgets.picture import halfcell_strips

_TOKEN = re.compile(r"\x1b\[([0-9;]*)m|\x1b\]8;[^\x1b]*\x1b\\\\|([^\x1b])")
ATTRIBUTES = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "21", "51", "52", "53"}


def cells(ansi: str) -> tuple[list[tuple], frozenset]:
    """Replay ``ansi`` through a terminal's SGR state: each printed character with the
    attributes, foreground and background it was drawn with, and the state left at the end."""
    attrs: set[str] = set()
    fg = bg = "default"
    out = []
    for m in _TOKEN.finditer(ansi):
        if m.group(2) is not None:
            out.append((m.group(2), frozenset(attrs), fg, bg))
            continue
        if m.group(1) is None:
            continue  # a link's OSC 8: no SGR state
        codes = (m.group(1) or "0").split(";")
        i = 0
        while i < len(codes):
            code = codes[i]
            if code == "0":
                attrs, fg, bg = set(), "default", "default"
            elif code in ATTRIBUTES:
                attrs.add(code)
            elif code in ("38", "48"):
                n = 5 if codes[i + 1] == "2" else 3
                value = ";".join(codes[i + 1:i + n])
                fg, bg = (value, bg) if code == "38" else (fg, value)
                i += n - 1
            elif code == "39":
                fg = "default"
            elif code == "49":
                bg = "default"
            elif 30 <= int(code) <= 37 or 90 <= int(code) <= 97:
                fg = code
            elif 40 <= int(code) <= 47 or 100 <= int(code) <= 107:
                bg = code
            else:
                raise AssertionError(f"unexpected SGR code {code}")
            i += 1
    return out, frozenset({("attrs", frozenset(attrs)), ("fg", fg), ("bg", bg)})


RESET_STATE = frozenset({("attrs", frozenset()), ("fg", "default"), ("bg", "default")})


def random_style(rng: random.Random) -> Style | None:
    if rng.random() < 0.15:
        return None
    colors = [None, "red", "#102030", "rgb(200,10,10)", "default", "color(120)"]
    return Style(color=rng.choice(colors), bgcolor=rng.choice(colors),
                 bold=rng.choice([None, True, False]), italic=rng.random() < 0.2,
                 underline=rng.random() < 0.1, reverse=rng.random() < 0.1,
                 link="https://example.org" if rng.random() < 0.03 else None)


def both(strip: Strip, console: Console) -> tuple[str, str]:
    theirs = renderers.ORIGINAL_STRIP_RENDER(Strip(list(strip), strip.cell_length), console)
    ours = sgr.render_strip(Strip(list(strip), strip.cell_length), console)
    return theirs, ours


def test_random_lines_draw_the_same_cells_and_end_reset():
    rng = random.Random(7)
    for system in ("truecolor", "256", "standard"):
        console = Console(color_system=system, force_terminal=True)
        for _ in range(300):
            segments = [Segment(rng.choice(["a", "bc", "▀", " ", "xyz"]), random_style(rng))
                        for _ in range(rng.randint(1, 12))]
            theirs, ours = both(Strip(segments), console)
            assert cells(ours) == cells(theirs), (system, segments)
            assert cells(ours)[1] == RESET_STATE


def test_a_photo_in_half_blocks_costs_fewer_bytes_and_looks_the_same():
    from PIL import Image

    # smooth shading, as in a photo (scikit-image's photos measure 0.74-0.88 of the bytes)
    image = Image.new("RGB", (160, 88))
    image.putdata([((x * 3) // 2 % 256, (y * 29) // 10 % 256, (x + y) % 256)
                   for y in range(88) for x in range(160)])
    console = Console(color_system="truecolor", force_terminal=True)
    theirs_total = ours_total = 0
    for strip in halfcell_strips(image):
        theirs, ours = both(strip, console)
        assert cells(ours)[0] == cells(theirs)[0]
        theirs_total += len(theirs.encode())
        ours_total += len(ours.encode())
    assert ours_total < 0.9 * theirs_total, (ours_total, theirs_total)


def test_install_puts_it_in_textuals_place_and_uninstall_takes_it_out():
    try:
        renderers.install_sgr()
        assert Strip.render is sgr.render_strip
    finally:
        renderers.uninstall_sgr()
    assert Strip.render is renderers.ORIGINAL_STRIP_RENDER

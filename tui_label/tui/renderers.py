"""Every reach into third-party internals, in one place: textual-image's private modules and
the line renderer put in place of Textual's.

Version pins (pyproject.toml): ``textual-image>=0.12,<0.13`` and ``textual>=8.2,<9``. What is
relied on, to check when either is upgraded:

* ``textual_image._terminal``: ``get_cell_size`` caches its answer in the attribute
  ``get_cell_size._result`` (``CellSize``), and ``textual_image.renderable`` binds
  ``capture_terminal_response`` by name when first imported, then asks the terminal with it
  (``load_textual_image``);
* ``textual.strip.Strip.render``, replaced by ``tui_label.tui.widgets.sgr.render_strip``
  (``install_sgr``);
* rich's ``Console._color_system``, which Textual's app console gets from ``COLORTERM`` and
  ``TERM`` when the app is made, and Textual and ``render_strip`` read when they render
  (``use_truecolor``).

The kitty input driver's reach into Textual's driver and parser is tui/kitty_driver.py's.
"""

from __future__ import annotations

import struct
import sys
from types import ModuleType

import textual_image._terminal as ti_terminal
from PIL import Image
from rich.color import ColorSystem
from rich.console import Console
from textual.strip import Strip

from tui_label.terminal import sixel
from tui_label.tui.widgets.sgr import render_strip

VT340_CELL = (10, 20)  # textual-image's own guess when nothing tells


# ---------------------------------------------------------------------------------- textual-image

def load_textual_image(cell: tuple[int, int] | None) -> ModuleType:
    """``textual_image.widget``, imported without the terminal queries it makes on import.

    textual-image asks for sixel and kitty support when first imported, each with a 0.1 s
    limit and echo back on afterwards: over a slow link the answers come later and reach
    Textual as key presses, or the shell as stray characters. The answers
    ``tui_label.terminal.probe.detect`` got, or the forced renderer, decide instead; the cell
    size is set from the pty or ``cell``.
    """
    get_cell_size = ti_terminal.get_cell_size
    if not hasattr(get_cell_size, "_result"):  # its cache: it never asks itself
        size = pty_cell_size() or cell or VT340_CELL
        get_cell_size._result = ti_terminal.CellSize(*size)  # type: ignore[attr-defined]

    def no_query(*_args, **_kwargs):
        raise ti_terminal.TerminalError("not asked: tui_label.terminal.probe.detect asks")

    asking = ti_terminal.capture_terminal_response
    ti_terminal.capture_terminal_response = no_query  # bound by name when renderable imports
    try:
        from textual_image import widget  # its import is the point: after the shim, not on top
    finally:
        ti_terminal.capture_terminal_response = asking
    return widget


def pty_cell_size() -> tuple[int, int] | None:
    """The cell size in pixels from the pty's window size, when the terminal sets it."""
    import fcntl  # POSIX only: imported where used, as the headless probe does
    import termios

    try:
        rows, cols, width, height = struct.unpack(
            "HHHH", fcntl.ioctl(sys.__stdout__.fileno(),  # type: ignore[union-attr]
                                termios.TIOCGWINSZ, b"\0" * 8))
    except (OSError, AttributeError, ValueError):
        return None
    return (width // cols, height // rows) if width and height and cols and rows else None


def cell_size() -> tuple[int, int]:
    """The terminal's cell size in pixels, as textual-image knows it (set by
    ``load_textual_image``)."""
    size = ti_terminal.get_cell_size()
    return size.width, size.height


def sixel_encode(image: Image.Image, *, colors: int = 256, merge: float = 24,
                 denoise: bool = True) -> str:
    """The sixel sequence (``ESC P ... ESC \\``) for ``image``, drawn at its pixel size: reduced
    and encoded by ``tui_label.terminal.sixel`` (about half textual-image's bytes; every
    colour register defined before the first band, as xterm needs: issue 17)."""
    return sixel.encode(sixel.reduced(image, colors=colors, merge=merge, denoise=denoise))


# ---------------------------------------------------------------------------------- Textual

ORIGINAL_STRIP_RENDER = Strip.render


def install_sgr() -> None:
    """Render every strip with ``tui_label.tui.widgets.sgr.render_strip`` from now on
    (idempotent): colour codes only where colours change."""
    Strip.render = render_strip  # type: ignore[method-assign, assignment]


def uninstall_sgr() -> None:
    Strip.render = ORIGINAL_STRIP_RENDER  # type: ignore[method-assign]


def use_truecolor(console: Console) -> None:
    """24-bit colour on ``console`` (Textual's app console), where the terminal takes it but
    ``COLORTERM`` does not say so (``tui_label.terminal.colour``): rich has no setter."""
    console._color_system = ColorSystem.TRUECOLOR  # noqa: SLF001

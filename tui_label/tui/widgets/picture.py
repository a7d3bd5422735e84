"""Image widgets whose expensive work happens off the UI thread.

textual-image builds half-block segments and encodes sixel data while rendering, on the UI
thread: tens to hundreds of milliseconds per image. Here that work runs in the decode worker
(``prepare``), so showing the next image only swaps ready-made strips or sixel data. Sixel
data is reduced by ``tui_label.terminal.sixel`` (about half of textual-image's bytes) and
encoded by tui/renderers.py; half blocks are 16 levels a channel or the 256-colour palette
(``Fidelity``). Each image is painted once (``_LeafPicture``). Kitty graphics are
widgets/kitty_picture.py; the unicode fallback is textual-image's widget as it is.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage
from rich.color import Color, ColorTriplet, ColorType
from rich.control import Control
from rich.segment import ControlType, Segment
from rich.style import Style
from textual.dom import NoScreen
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui_label.config.fidelity import Fidelity
from tui_label.tui.renderers import sixel_encode

_NULL_STYLE = Style()
_HALF = "▀"  # upper half block: foreground = top pixel, background = bottom pixel
_styles: dict[int, Style] = {}
_styles_lock = threading.Lock()
_MAX_STYLES = 200_000

LEVELS = 16  # levels a channel (0, 17, ..., 255): invisible at half-block size, longer runs

# The xterm 256-colour palette: a 6x6x6 cube (16-231) and 24 greys (232-255).
_CUBE = np.array([0, 95, 135, 175, 215, 255])
_PALETTE_256 = np.concatenate([
    np.stack(np.meshgrid(_CUBE, _CUBE, _CUBE, indexing="ij"), axis=-1).reshape(-1, 3),
    np.repeat(np.arange(8, 248, 10)[:, None], 3, axis=1)])  # index i: colour 16 + i
_EIGHT_BIT = 1 << 48  # style keys of 256-colour pairs, apart from the 24-bit ones
_SOLID = 1 << 49  # top and bottom alike: a space on the background colour, no foreground


def _style(key: int) -> Style:
    """A shared Style per (top, bottom) colour pair: rich caches its ANSI codes per instance."""
    style = _styles.get(key)
    if style is None:
        if key & _SOLID and key & _EIGHT_BIT:
            style = Style(bgcolor=_color_256(key & 255))
        elif key & _SOLID:
            bottom = key & 0xFFFFFF
            style = Style(bgcolor=Color.from_rgb(bottom >> 16, (bottom >> 8) & 255, bottom & 255))
        elif key & _EIGHT_BIT:
            top, bottom = (key >> 8) & 255, key & 255
            style = Style(color=_color_256(top), bgcolor=_color_256(bottom))
        else:
            top, bottom = key >> 24, key & 0xFFFFFF
            style = Style(color=Color.from_rgb(top >> 16, (top >> 8) & 255, top & 255),
                          bgcolor=Color.from_rgb(bottom >> 16, (bottom >> 8) & 255,
                                                 bottom & 255))
        with _styles_lock:
            if len(_styles) > _MAX_STYLES:
                _styles.clear()
            _styles[key] = style
    return style


def _color_256(number: int) -> Color:
    """A 256-colour palette entry written as ``5;N`` (short), with its RGB triplet known, so
    Textual's filters keep it as it is instead of turning it into 24-bit colour."""
    r, g, b = (int(v) for v in _PALETTE_256[number - 16])
    return Color(f"color({number})", ColorType.EIGHT_BIT, number=number,
                 triplet=ColorTriplet(r, g, b))


def nearest_256(pixels: np.ndarray) -> np.ndarray:
    """The nearest xterm palette colour (16-255) of each RGB pixel (``pixels[..., 3]``)."""
    flat = pixels.reshape(-1, 3).astype(np.int32)
    cube = np.abs(flat[:, :, None] - _CUBE[None, None, :]).argmin(axis=2)
    cube_index = cube[:, 0] * 36 + cube[:, 1] * 6 + cube[:, 2]
    grey_index = 216 + np.clip((flat.mean(axis=1) - 3) // 10, 0, 23).astype(np.int64)
    best = np.where(_distance(flat, _PALETTE_256[cube_index]) <=
                    _distance(flat, _PALETTE_256[grey_index]), cube_index, grey_index)
    return (best + 16).reshape(pixels.shape[:-1])


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return (d * d).sum(axis=1)


def halfcell_strips(image: PILImage.Image, colors: str = "truecolor") -> list[Strip]:
    """One strip per two pixel rows; runs of equal colour pairs become one segment.

    ``colors``: "truecolor" (24-bit, ``LEVELS`` levels a channel) or "256" (the xterm
    palette). A cell whose two pixels are alike is a space on that background colour: no
    foreground code, a 1-byte character instead of 3 (about a tenth fewer bytes on photos).
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
    if rgb.shape[0] % 2:
        rgb = np.concatenate([rgb, rgb[-1:]], axis=0)
    if colors == "256":
        packed = nearest_256(rgb)
        top, bottom = packed[0::2], packed[1::2]
        keys = _EIGHT_BIT | (top << 8) | bottom
    else:
        pixels = (rgb * (LEVELS - 1) + 127) // 255 * 255 // (LEVELS - 1)
        packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
        top, bottom = packed[0::2], packed[1::2]
        keys = (top << 24) | bottom
    solid = _SOLID | (_EIGHT_BIT if colors == "256" else 0) | bottom
    keys = np.where(top == bottom, solid, keys)
    width = keys.shape[1]
    strips = []
    for row in keys:
        cuts = np.flatnonzero(row[1:] != row[:-1]) + 1
        starts = [0, *cuts.tolist()]
        ends = [*cuts.tolist(), width]
        values = row[starts].tolist()
        strips.append(Strip([Segment((" " if v & _SOLID else _HALF) * (e - s), _style(v))
                             for s, e, v in zip(starts, ends, values, strict=True)], width))
    return strips


def sixel_data(image: PILImage.Image, fidelity: Fidelity | None = None) -> str:
    """The sixel sequence for ``image`` (see ``tui_label.terminal.sixel``: fewer bytes than
    textual-image's own encoding of the same image)."""
    fidelity = fidelity or Fidelity()
    return sixel_encode(image, colors=fidelity.sixel_colors, merge=fidelity.sixel_merge,
                        denoise=fidelity.sixel_denoise)


class _LeafPicture(Widget):
    """A picture widget painted once per layout change.

    When a new image has another size, Textual lays the screen out and paints the picture in
    its new region; then the widget's new virtual size (a reactive with ``layout=True``) asks
    for a second layout and a second paint of the same region. For a leaf widget that cannot
    scroll, that second pass changes nothing on screen but sends the whole image again: for
    sixel, hundreds of kilobytes. The size is recorded without asking for it.
    """

    def _size_updated(self, size, virtual_size, container_size, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)


class HalfcellPicture(_LeafPicture):
    """Shows strips made by ``halfcell_strips``."""

    DEFAULT_CSS = "HalfcellPicture { width: auto; height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.image: PILImage.Image | None = None
        self._strips: list[Strip] = []

    def show(self, image: PILImage.Image, prepared: list[Strip]) -> None:
        self.image, self._strips = image, prepared
        self.refresh()

    def render_line(self, y: int) -> Strip:
        return self._strips[y] if y < len(self._strips) else Strip.blank(self.size.width)


class SixelPicture(_LeafPicture):
    """Injects sixel data made by ``sixel_data`` (as textual-image's sixel widget does, minus
    the encoding)."""

    DEFAULT_CSS = "SixelPicture { width: auto; height: auto; }"

    def __init__(self, *, id: str | None = None, fidelity: Fidelity | None = None) -> None:
        super().__init__(id=id)
        self.image: PILImage.Image | None = None
        self._data = ""
        self.fidelity = fidelity or Fidelity()

    def show(self, image: PILImage.Image, prepared: str) -> None:
        self.image, self._data = image, prepared
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        # Like textual-image: nothing while another screen is on top (tinting garbles sixels).
        try:
            if not self._data or not self.screen.is_active or crop.height < 1:
                return [Strip.blank(crop.width)] * crop.height
            visible = self.screen.find_widget(self).visible_region
        except NoScreen:
            return [Strip.blank(crop.width)] * crop.height
        data = self._data
        if crop != Region(0, 0, *self.size) and self.image is not None:
            # A partial repaint (rare): encode just that part, on the spot.
            cw = self.image.width // max(self.size.width, 1)
            ch = self.image.height // max(self.size.height, 1)
            part = self.image.crop((crop.x * cw, crop.y * ch, crop.right * cw, crop.bottom * ch))
            data = sixel_data(part, self.fidelity)
        segments = [
            Segment(Control.move_to(visible.x, visible.y).segment.text, style=_NULL_STYLE),
            Segment(data, style=_NULL_STYLE, control=((ControlType.CURSOR_FORWARD, 0),)),
            Segment(Control.move_to(visible.right, visible.bottom).segment.text,
                    style=_NULL_STYLE),
        ]
        return [Strip([])] * (crop.height - 1) + [Strip(segments, cell_length=crop.width)]


class LibraryPicture:
    """Adapter: a textual-image widget class used as it is (kitty graphics, unicode)."""

    def __init__(self, widget_class: type[Widget]) -> None:
        self.widget_class = widget_class

    def __call__(self, *, id: str | None = None) -> Widget:
        widget = self.widget_class(id=id)
        widget.show = lambda image, prepared: setattr(widget, "image", image)  # type: ignore
        return widget


@dataclass(frozen=True)
class Renderer:
    """How images are drawn: the widget factory, the off-thread preparation, the density, and
    what each image may cost on the wire."""

    name: str
    widget: Any  # callable(id=...) -> Widget with .show(image, prepared)
    prepare: Any  # callable(PIL image) -> prepared data, run on a decode thread
    density: tuple[int, int]
    fidelity: Fidelity = Fidelity()  # --link, --max-pixels: see ImageView.geometry
    scales: bool = False  # the terminal scales images to their cells (kitty graphics)
    max_size: tuple[int, int] | None = None  # the largest image the terminal draws (sixel)

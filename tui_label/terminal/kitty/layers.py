"""An image as kitty layers (issue 11): what a decode thread prepares for the pre-sender.

An image is uploaded as a *layer*: a transparent canvas of its full size (a few KB, deflated
zeros), then horizontal strips written into it with animation-frame edits
(``a=f,r=1,x=0,y=Y``). Every strip is a complete command, so uploads can be cut into pieces
between which a placement may be written; a placed layer fills in as its strips arrive.
Each image has two layers: ``low`` (half the resolution each way, placed at the full cell
size: kitty scales it) and ``full`` on top of it. No textual.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tui_label.terminal.kitty.protocol import canvas, edit, encode_pixels

_ids = itertools.count(0x2A0001, 2)
_ids_lock = threading.Lock()


def new_image_id() -> int:
    return new_ids()[0]


def new_ids() -> tuple[int, int]:
    """An image's layer ids: low odd, full the next (benchmarks/wire.py pairs them so)."""
    with _ids_lock:
        low = next(_ids) & 0xFFFFFFFF
        if low >= 0xFFFFFFFE:
            low = next(_ids) & 0xFFFFFFFF
        return low, low + 1


STRIP_BYTES = 48_000  # raw RGB bytes per strip (10-30 KB once compressed)


@dataclass
class Layer:
    """One image id: a canvas, then its strips, each a complete command."""

    image_id: int
    width: int
    height: int
    pieces: list[bytes]  # pieces[0] the canvas, then one edit per strip
    sent: int = 0  # pieces written to the terminal so far (under the uploader's lock)

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.pieces)

    @property
    def memory(self) -> int:
        """What the terminal holds for it, decoded (RGBA)."""
        return self.width * self.height * 4

    @property
    def complete(self) -> bool:
        return self.sent >= len(self.pieces)

    @property
    def started(self) -> bool:
        return self.sent > 0


def make_layer(image: Image.Image, png_level: int = 6, image_id: int | None = None) -> Layer:
    image_id = new_image_id() if image_id is None else image_id
    rows = max(1, STRIP_BYTES // max(1, image.width * 3))
    pieces = [canvas(image_id, image.width, image.height)]
    chosen = None  # the format that won on the first strip: the others alike, half the work
    for y in range(0, image.height, rows):
        strip = image.crop((0, y, image.width, min(image.height, y + rows)))
        pixels = encode_pixels(strip, png_level, chosen)
        chosen = int(pixels.keys["f"])  # type: ignore[call-overload]
        pieces.append(edit(image_id, pixels, y))
    return Layer(image_id, image.width, image.height, pieces)


@dataclass(eq=False)
class KittyImage:
    """What the decode thread prepares for one image: its two layers (and the image they were
    made from, for a ``Planner`` to make them again at another resolution)."""

    low: Layer
    full: Layer
    source: Image.Image | None = field(default=None, repr=False)
    remade: int = 0  # times a planner made its layers again

    @property
    def layers(self) -> tuple[Layer, Layer]:
        return self.low, self.full

    @property
    def memory(self) -> int:
        return sum(layer.memory for layer in self.layers if layer.started)


LOW_BITS_MASK = 0xFC  # the low layer keeps 6 bits a channel: 35-45% fewer bytes on photos


def prepare(image: Image.Image, size: tuple[int, int] | None = None) -> KittyImage:
    """The two layers of ``image`` (run on a decode thread: tens to hundreds of ms), the full
    one ``size`` pixels (default the image's own).

    The low layer is half the full one's resolution each way with 6 bits a channel (sensor
    noise in the last two bits is what PNG compresses worst); the full layer replaces it.
    """
    full = image
    if size is not None and size != image.size:
        full = image.resize(size, Image.Resampling.LANCZOS)
    half = full.resize((max(1, full.width // 2), max(1, full.height // 2)),
                       Image.Resampling.BILINEAR)
    half = Image.fromarray(np.asarray(half.convert("RGB")) & LOW_BITS_MASK)
    low_id, full_id = new_ids()
    return KittyImage(make_layer(half, 6, low_id), make_layer(full, 2, full_id), image)

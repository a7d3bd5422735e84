"""A small sixel decoder for tests: what a terminal would draw from a sixel sequence.

Understands what sixel encoders send: the DCS introducer ``ESC P p1;p2;p3 q``, raster
attributes ``"pan;pad;width;height``, colour definitions ``#n;2;r;g;b`` (percent) and
``#n;1;h;l;s``, colour selects ``#n``, repeats ``!n``, carriage return ``$``, next band ``-``
and the string terminator ``ESC \\``. Pixels are kept as written; one never written is marked
unset (``Decoded.written`` False), so a test sees bands or seams no colour ever covered.
``Decoded.late`` lists the colour registers defined after the first sixel was drawn: xterm
draws the first band of such an image in wrong colours (seen with xterm-shot, issue 17), so a
sequence for xterm defines every register before the first band.
"""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass

import numpy as np

_TOKEN = re.compile(rb'"[0-9;]*|#[0-9;]*|![0-9]*|[$\-]|[\x3f-\x7e]|[\s\x00-\x1f]')


@dataclass
class Decoded:
    """The decoded picture: ``rgb`` (height, width, 3) uint8 and ``written`` (height,
    width) bool; ``raster`` is the declared (width, height), ``bands`` the count of ``-``."""

    rgb: np.ndarray
    written: np.ndarray
    raster: tuple[int, int] | None
    params: tuple[int, ...]
    bands: int
    registers: dict[int, tuple[int, int, int]]
    late: list[int]  # registers defined after the first sixel


def _body(data: bytes) -> tuple[tuple[int, ...], bytes]:
    start = data.index(b"\x1bP")
    q = data.index(b"q", start)
    params = tuple(int(p or 0) for p in data[start + 2:q].split(b";")) if q > start + 2 else ()
    end = data.index(b"\x1b\\", q)
    return params, data[q + 1:end]


def _colour(fields: list[int]) -> tuple[int, int, int]:
    space, a, b, c = fields[1:5]
    if space == 1:  # HLS, hue 0 = blue in sixel
        r, g, bl = colorsys.hls_to_rgb(((a + 240) % 360) / 360, b / 100, c / 100)
        return round(r * 255), round(g * 255), round(bl * 255)
    return tuple(round(v * 255 / 100) for v in (a, b, c))  # type: ignore[return-value]


def decode(sequence: str | bytes) -> Decoded:
    """Decode one sixel sequence (the first ``ESC P ... q ... ESC \\`` in ``sequence``)."""
    data = sequence.encode("latin-1") if isinstance(sequence, str) else sequence
    params, body = _body(data)
    canvas = _Canvas()
    registers: dict[int, tuple[int, int, int]] = {}
    raster = None
    x = y = 0
    colour, repeat, bands = 0, 1, 0
    late: list[int] = []
    for match in _TOKEN.finditer(body):
        token = match.group()
        head = token[:1]
        if head == b'"':
            fields = [int(f or 0) for f in token[1:].split(b";")]
            if len(fields) >= 4:
                raster = (fields[2], fields[3])
        elif head == b"#":
            fields = [int(f or 0) for f in token[1:].split(b";")]
            colour = fields[0]
            if len(fields) >= 5:
                registers[colour] = _colour(fields)
                if canvas.drawn:
                    late.append(colour)
        elif head == b"!":
            repeat = int(token[1:] or 1)
        elif head == b"$":
            x = 0
        elif head == b"-":
            x, y, bands = 0, y + 6, bands + 1
        elif 0x3F <= token[0] <= 0x7E:
            canvas.put(x, y, repeat, token[0] - 0x3F, colour)
            x, repeat = x + repeat, 1
    return canvas.picture(registers, raster, params, bands, late)


class _Canvas:
    """Register numbers by pixel (-1: never written), grown as the sixels reach further."""

    def __init__(self) -> None:
        self.index = np.full((6, 64), -1, dtype=np.int32)
        self.width = self.height = 0  # the extent written
        self.drawn = False  # any sixel yet

    def put(self, x: int, y: int, count: int, bits: int, colour: int) -> None:
        self.drawn = True
        if not bits:
            return
        rows, cols = self.index.shape
        if y + 6 > rows or x + count > cols:
            grown = np.full((max(rows * 2, y + 6), max(cols * 2, x + count)), -1, np.int32)
            grown[:rows, :cols] = self.index
            self.index = grown
        for row in range(6):
            if bits >> row & 1:
                self.index[y + row, x:x + count] = colour
                self.height = max(self.height, y + row + 1)
        self.width = max(self.width, x + count)

    def picture(self, registers: dict[int, tuple[int, int, int]],
                raster: tuple[int, int] | None, params: tuple[int, ...],
                bands: int, late: list[int]) -> Decoded:
        width = max(raster[0] if raster else 0, self.width)
        height = max(raster[1] if raster else 0, self.height)
        index = np.full((height, width), -1, dtype=np.int32)
        h, w = min(height, self.index.shape[0]), min(width, self.index.shape[1])
        index[:h, :w] = self.index[:h, :w]
        table = np.zeros((max([255, *registers, int(index.max())]) + 1, 3), np.uint8)
        for n, value in registers.items():
            table[n] = value
        written = index >= 0
        rgb = np.where(written[..., None], table[np.maximum(index, 0)], 0).astype(np.uint8)
        return Decoded(rgb, written, raster, params, bands, registers, late)

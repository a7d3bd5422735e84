"""Sixel images with fewer bytes (issue 11): what a sixel costs and how to pay less.

Sixel data is written in bands of six pixel rows. In each band, every colour that occurs is
drawn as one pass along the band (a colour select, then one byte per column, runs as
``!n``), so a band costs about one byte per (column, colour) pair, plus a select and a skip
for each stretch of a colour. Photos at 256 colours have two or three colours in each
6-pixel column, most of them a few steps apart (sensor noise, gradients): that, not the
pixel count alone, is what makes a sixel image several hundred kilobytes.

So before the bands are written (by textual-image's encoder, which already packs passes and
run-length encodes: called in tui_label/tui/renderers.py, ``sixel_encode``):

* a 3x3 median filter removes the noise that costs bytes and shows nothing;
* within each 6-pixel column of a band, a colour within ``merge`` (RGB distance) of one
  above it in the same column takes that colour. Each column keeps its real edges; the
  near-duplicates go.

``python benchmarks/sixel_bytes.py`` measures what each step saves on real photos.
No textual, no textual-image.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

BAND = 6  # pixel rows per sixel band
GAP = 10  # columns without a colour that split its stretch in a band (as textual-image)


# The median of 9 in 19 compare-exchanges (Paeth's network, as in N. Devillard's opt_med9).
_MEDIAN9 = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
            (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def median3(rgb: np.ndarray) -> np.ndarray:
    """The 3x3 median of each channel of ``rgb`` (height, width, 3), edges repeated: the
    median filter in numpy (a few times faster than Pillow's rank filter here, and numpy
    lets the other threads run meanwhile)."""
    padded = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")
    height, width = rgb.shape[:2]
    p = [padded[y:y + height, x:x + width] for y in range(3) for x in range(3)]
    for i, j in _MEDIAN9:
        p[i], p[j] = np.minimum(p[i], p[j]), np.maximum(p[i], p[j])
    return p[4]


def quantize(image: Image.Image, colors: int, denoise: bool) -> Image.Image:
    """``image`` as a palette image of at most ``colors`` colours (no dithering: dither
    noise is the most expensive thing to send as sixel).

    The palette is Pillow's fast octree's; each pixel then takes its nearest palette colour.
    The octree's own mapping gives a pixel whose fine bucket got no palette entry the mean of
    what is left in its coarse bucket, up to a quarter of the range away (specks: a dark
    smear on a bright forehead, brown blocks on a cat's edge; issue 17).
    """
    rgb = image.convert("RGB")
    if denoise and min(rgb.size) >= 3:
        rgb = Image.fromarray(median3(np.asarray(rgb)))
    palette = rgb.quantize(colors=colors, method=Image.Quantize.FASTOCTREE,
                           dither=Image.Dither.NONE)
    return rgb.quantize(palette=palette, dither=Image.Dither.NONE)


def merge_band_columns(indexed: Image.Image, merge: float) -> Image.Image:
    """In each 6-pixel column of each band, a pixel whose colour is within ``merge`` of a
    pixel above it in that column takes that colour: first the colour of the pixel just
    above the band (merged already), then the band's own pixels from the top.

    Fewer colours in each band's columns, fewer bytes. Looking above the band too keeps a
    gradient from snapping to each band's top row (seams every 6 rows: issue 17); no pixel
    is further than ``merge`` from its own colour.
    """
    colours = indexed.getpalette()
    if merge <= 0 or colours is None:  # None: not a palette image, nothing to merge
        return indexed
    palette = np.array(colours, dtype=np.int32).reshape(-1, 3)
    merged = np.array(indexed)
    own = palette[merged]
    shown = own.copy()
    limit = merge * merge
    for y in range(1, merged.shape[0]):
        taken = np.zeros(merged.shape[1], dtype=bool)
        for above in range(y // BAND * BAND, y):
            diff = shown[above] - own[y]
            close = ~taken & ((diff * diff).sum(axis=1) <= limit)
            merged[y, close] = merged[above, close]
            shown[y, close] = shown[above, close]
            taken |= close
    out = Image.fromarray(merged, "P")
    out.putpalette(colours)
    return out


def reduced(image: Image.Image, *, colors: int = 256, merge: float = 24,
            denoise: bool = True) -> Image.Image:
    """``image`` ready for the sixel encoder: quantized (``quantize``), then its near-duplicate
    colours merged in each band's columns (``merge_band_columns``)."""
    return merge_band_columns(quantize(image, colors, denoise), merge)


# ---------------------------------------------------------------------------------- encoding

_RUN = re.compile(rb"(.)\1{3,}")  # 4 or more of one sixel: "!n" and the sixel
_SIXELS = bytes(range(0x3F, 0x3F + 64)) + bytes(192)  # bits 0-63 -> "?" ... "~"


def _run(match: re.Match[bytes]) -> bytes:
    return b"!%d%s" % (match.end() - match.start(), match.group(1))


def encode(indexed: Image.Image) -> str:
    """The sixel sequence (``ESC P ... ESC \\``) of a palette image, drawn at its pixel size.

    Every colour register is defined before the first band (xterm draws the first band of an
    image in wrong colours when they come later: issue 17); each band (6 pixel rows) draws
    each colour in stretches packed into passes (``_band``), runs of 4 or more as ``!n``; no
    ``-`` follows the last band (it would start a band below the image). Background
    parameter 1: pixels never written keep what the screen showed, and there are none.
    Numpy does the bit packing, so this is faster than textual-image's encoder (same bytes).
    """
    index = np.asarray(indexed)
    height, width = index.shape
    registers, colours, count = _registers(indexed, index)
    out = [b'\x1bP0;1;0q"1;1;%d;%d' % (width, height), registers]
    bits = np.zeros((count, width), dtype=np.uint8)
    cols = np.arange(width)
    for top in range(0, height, BAND):
        band = colours[top:top + BAND]
        for row, line in enumerate(band):
            bits[line, cols] |= np.uint8(1 << row)
        used = np.unique(band)
        out.append(_band(used, bits[used], len(band)))
        bits[used] = 0
        if top + BAND < height:
            out.append(b"-")
    out.append(b"\x1b\\")
    return b"".join(out).decode("ascii")


def _registers(indexed: Image.Image, index: np.ndarray) -> tuple[bytes, np.ndarray, int]:
    """The colour register definitions (``#n;2;r;g;b``, percent) of the colours ``index``
    uses, alike ones once, the most used first; ``index`` as register numbers; their count."""
    palette = np.array(indexed.getpalette() or [0, 0, 0], dtype=np.int32).reshape(-1, 3)
    counts = np.bincount(index.ravel(), minlength=len(palette))
    used = np.flatnonzero(counts)
    percent = (palette[used] * 100 + 127) // 255
    unique, inverse = np.unique(percent, axis=0, return_inverse=True)
    weight = np.bincount(inverse.ravel(), weights=counts[used])
    rank = np.argsort(-weight, kind="stable")  # the most used get the shortest numbers
    number = np.empty(len(unique), dtype=np.int64)
    number[rank] = np.arange(len(unique))
    lookup = np.zeros(len(palette), dtype=np.int64)
    lookup[used] = number[inverse.ravel()]
    definitions = b"".join(b"#%d;2;%d;%d;%d" % (n, *unique[i]) for n, i in enumerate(rank))
    return definitions, lookup[index], len(unique)


def _segments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stretches of each row of ``rows`` (bits per column) that have bits, split where
    ``GAP`` or more columns have none: (row, first column, end column) of each."""
    row, col = np.nonzero(rows)
    cut = np.ones(len(col), dtype=bool)
    cut[1:] = (row[1:] != row[:-1]) | (col[1:] - col[:-1] > GAP)
    first = np.flatnonzero(cut)
    last = np.append(first[1:], len(col)) - 1
    return row[first], col[first], col[last] + 1


def _band(used: np.ndarray, rows: np.ndarray, height: int) -> bytes:
    """One band of ``height`` pixel rows: each colour of ``used`` (its bits per column in
    ``rows``) drawn in stretches, packed into as few passes as the stretches allow.

    The first pass draws its stretches solid (``!n~``: cheap); the passes after it draw only
    their own pixels, over it. Every pixel ends with its own colour.
    """
    row, start, end = _segments(rows)
    order = np.lexsort((row, start - end, start)).tolist()
    row, start, end = row.tolist(), start.tolist(), end.tolist()
    passes: list[list[int]] = []
    reach: list[int] = []
    for i in order:
        for p, edge in enumerate(reach):
            if edge <= start[i]:
                passes[p].append(i)
                reach[p] = end[i]
                break
        else:
            passes.append([i])
            reach.append(end[i])
    solid = bytes((0x3F + (1 << height) - 1,))
    out = []
    for number, members in enumerate(passes):
        line, cursor = [], 0
        for i in members:
            line.append(b"#%d" % used[row[i]])
            if start[i] > cursor:
                line.append(_repeat(start[i] - cursor, b"?"))
            if number == 0:
                line.append(_repeat(end[i] - start[i], solid))
            else:
                data = rows[row[i], start[i]:end[i]].tobytes().translate(_SIXELS)
                line.append(_RUN.sub(_run, data))
            cursor = end[i]
        out.append(b"".join(line))
    return b"$".join(out)


def _repeat(count: int, sixel: bytes) -> bytes:
    return b"!%d%s" % (count, sixel) if count > 3 else sixel * count

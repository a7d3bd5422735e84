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

import numpy as np
from PIL import Image, ImageFilter

BAND = 6  # pixel rows per sixel band


def quantize(image: Image.Image, colors: int, denoise: bool) -> Image.Image:
    """``image`` as a palette image of at most ``colors`` colours (no dithering: dither
    noise is the most expensive thing to send as sixel)."""
    rgb = image.convert("RGB")
    if denoise and min(rgb.size) >= 3:
        rgb = rgb.filter(ImageFilter.MedianFilter(3))
    return rgb.quantize(colors=colors, method=Image.Quantize.FASTOCTREE,
                        dither=Image.Dither.NONE)


def merge_band_columns(indexed: Image.Image, merge: float) -> Image.Image:
    """In each 6-pixel column of each band, a pixel whose colour is within ``merge`` of a
    pixel above it in that column takes that colour (the topmost such one)."""
    colours = indexed.getpalette()
    if merge <= 0 or colours is None:  # None: not a palette image, nothing to merge
        return indexed
    palette = np.array(colours[:768], dtype=np.int32).reshape(-1, 3)
    index = np.asarray(indexed)
    height, width = index.shape
    pad = -height % BAND
    # (bands * width, 6): one row per 6-pixel column
    columns = (np.pad(index, ((0, pad), (0, 0)), mode="edge")
               .reshape(-1, BAND, width).transpose(0, 2, 1).reshape(-1, BAND).copy())
    limit = merge * merge
    for j in range(1, BAND):
        taken = np.zeros(len(columns), dtype=bool)
        for i in range(j):
            diff = palette[columns[:, i]] - palette[columns[:, j]]
            close = ~taken & ((diff * diff).sum(axis=1) <= limit)
            columns[close, j] = columns[close, i]
            taken |= close
    merged = (columns.reshape(-1, width, BAND).transpose(0, 2, 1)
              .reshape(-1, width)[:height].astype(np.uint8))
    out = Image.fromarray(merged, "P")
    out.putpalette(colours)
    return out


def reduced(image: Image.Image, *, colors: int = 256, merge: float = 24,
            denoise: bool = True) -> Image.Image:
    """``image`` ready for the sixel encoder: quantized (``quantize``), then its near-duplicate
    colours merged in each band's columns (``merge_band_columns``)."""
    return merge_band_columns(quantize(image, colors, denoise), merge)

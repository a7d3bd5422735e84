"""Fingerprints of image files, for finding duplicates before any model exists: the digest of
the file's bytes (exact copies) and a 64-bit difference hash of its pixels (near copies: the
same photo resized, recompressed, slightly recoloured).

The difference hash (dHash) averages the grey image over 8 rows of 9 cells and keeps one bit
per horizontally adjacent pair (is the left one brighter?). Two images whose hashes differ in a
few bits of 64 look alike at thumbnail scale; unrelated photos differ in about 32. Pixels come
through ``media.decode.open_image``: the same guards as the labeler (bombs, truncated files).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tui_label.media.decode import DecodeError, open_image

HASH_SIDE = 8  # 8 rows of 9 pixels: 64 bits
DRAFT_SIDE = 64  # large JPEGs decode at a small scale: a hash needs few pixels
CHUNK = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    image_id: int
    digest: str | None  # blake2b of the file's bytes, hex; None: the file cannot be read
    dhash: int | None  # None: the pixels cannot be decoded
    error: str | None = None


def file_digest(path: Path) -> str:
    """A 128-bit blake2b of the file's bytes, as hex."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def dhash(image: Image.Image) -> int:
    """The 64-bit difference hash of an image (any size, any mode)."""
    return int(dhash_pixels(np.asarray(image.convert("L"))[None])[0])


LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # Pillow's "L"


def dhash_pixels(pixels: np.ndarray) -> np.ndarray:
    """The difference hashes (uint64) of a batch of pixels, ``N x H x W x 3`` (RGB) or
    ``N x H x W`` (grey), uint8: each image's mean grey over 8 x 9 cells, one bit per pair of
    horizontally adjacent cells (is the left one brighter?), the first row's first bit the
    highest. What ``dhash`` gives a picture and the trainer the decode cache's pixels."""
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    _n, height, width, channels = pixels.shape
    if height < HASH_SIDE or width < HASH_SIDE + 1:  # tiny: repeat pixels to fill the cells
        return dhash_pixels(np.repeat(np.repeat(pixels, HASH_SIDE, axis=1), HASH_SIDE + 1,
                                      axis=2))
    rows = np.linspace(0, height, HASH_SIDE + 1).astype(int)
    cols = np.linspace(0, width, HASH_SIDE + 2).astype(int)
    sums = np.add.reduceat(np.add.reduceat(pixels, rows[:-1], axis=1, dtype=np.uint64),
                           cols[:-1], axis=2)  # N x 8 x 9 x channels, summed per cell
    weights = LUMA if channels == 3 else np.ones(channels, np.float32) / channels
    means = (sums @ weights.astype(np.float64)) / (np.diff(rows)[:, None] * np.diff(cols))
    bits = (means[:, :, :-1] > means[:, :, 1:]).reshape(len(pixels), HASH_SIDE * HASH_SIDE)
    return np.packbits(bits, axis=1).view(">u8")[:, 0].astype(np.uint64)


def fingerprint(image_id: int, path: Path) -> Fingerprint:
    """Both fingerprints of one file; never raises (a file that cannot be read says why)."""
    try:
        digest = file_digest(path)
    except OSError as exc:
        return Fingerprint(image_id, None, None, exc.strerror or type(exc).__name__)
    try:
        return Fingerprint(image_id, digest, dhash(open_image(path, DRAFT_SIDE).image))
    except DecodeError as exc:
        return Fingerprint(image_id, digest, None, str(exc))


def fingerprints(items: Sequence[tuple[int, Path]], *, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[Fingerprint]:
    """Fingerprints of ``(image id, path)`` pairs, on threads (Pillow and hashlib release the
    GIL), in the order given; ``progress(done, total)`` after each."""
    workers = workers or min(8, os.cpu_count() or 1)
    out: list[Fingerprint] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fingerprint") as pool:
        for done, result in enumerate(pool.map(lambda item: fingerprint(*item), items), 1):
            out.append(result)
            if progress is not None:
                progress(done, len(items))
    return out

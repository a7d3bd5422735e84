"""Decode images: guards, orientation, colour modes, resizing, prefetching.

The one decode path, for the labeler's display and for training alike (``open_image``). No
textual and no torch here. Every failure becomes a ``Decoded`` with ``error`` set, so a bad
file turns into a placeholder with its reason (or is left out of training) and work goes on.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from tui_label.media.decode_log import DecodeLog

# Shown behind transparent pixels: a neutral mid-grey reads well on dark and light terminals.
BACKGROUND = (128, 128, 128)
_ORIENTATION_TAG = 0x0112
# Truncated files are errors, never half-grey images (Pillow's default, stated here on purpose).
ImageFile.LOAD_TRUNCATED_IMAGES = False
# The warning level is refused explicitly (see _refuse_bomb_warning_level); a printed warning
# would only scribble over the terminal UI.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class Decoded:
    """An image ready to show (``image`` fits the box) or the reason it cannot be shown."""

    image: Image.Image | None
    width: int = 0  # original size, after EXIF orientation
    height: int = 0
    error: str | None = None
    cells: tuple[int, int] = (0, 0)  # size on screen, in cells
    prepared: Any = None  # renderer-specific data made off the UI thread (strips, sixels)


@dataclass(frozen=True)
class Geometry:
    """Where an image is shown: an area in terminal cells and how pixels map onto cells.

    ``cell`` is the terminal's cell size in screen pixels (for the aspect ratio); ``density``
    is how many image pixels the renderer puts in one cell (1x2 for half blocks, the cell size
    for sixel and kitty graphics).
    """

    cols: int
    rows: int
    cell: tuple[int, int] = (10, 20)
    density: tuple[int, int] = (1, 2)
    max_pixels: int | None = None  # the pixel cap (``--max-pixels``, ``--link slow``)
    scaled: bool = False  # the terminal scales the image to its cells (kitty graphics)
    max_size: tuple[int, int] | None = None  # the terminal draws no larger image (sixel)

    def layout(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Cells and pixel size for a ``width x height`` image, as large as fits, aspect kept.

        Over the pixel cap or ``max_size``, a ``scaled`` image keeps its cells with fewer
        pixels; any other gets fewer cells (one image pixel per screen pixel: sixel, half
        blocks).
        """
        screen_w, screen_h = self.cols * self.cell[0], self.rows * self.cell[1]
        scale = min(screen_w / width, screen_h / height)
        cols = min(self.cols, max(1, round(width * scale / self.cell[0])))
        rows = min(self.rows, max(1, round(height * scale / self.cell[1])))
        target_w, target_h = cols * self.density[0], rows * self.density[1]
        shrink = 1.0
        if self.max_pixels and target_w * target_h > self.max_pixels:
            shrink = (self.max_pixels / (target_w * target_h)) ** 0.5
        if self.max_size:
            shrink = min(shrink, self.max_size[0] / target_w, self.max_size[1] / target_h)
        if shrink < 1:
            if self.scaled:
                return (cols, rows), (max(1, int(target_w * shrink)),
                                      max(1, int(target_h * shrink)))
            cols, rows = max(1, int(cols * shrink)), max(1, int(rows * shrink))
            target_w, target_h = cols * self.density[0], rows * self.density[1]
        return (cols, rows), (target_w, target_h)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, flattening transparency onto ``BACKGROUND``."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float greyscale: stretch the actual range to 0..255 rather than clip.
        if image.mode.startswith("I;16"):
            image = image.convert("I")  # point() with a function takes I and F only
        lo, hi = cast(tuple[float, float], image.getextrema())  # one band: (min, max)
        scale = 255.0 / (hi - lo) if hi > lo else 1.0
        image = image.point(lambda v: (v - lo) * scale).convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode == "CMYK":
        # Adobe CMYK JPEGs are stored inverted; Pillow's conversion handles the plain case.
        return image.convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


class DecodeError(Exception):
    """A file that cannot be decoded; ``str(exc)`` is the one-line reason shown to a person."""


@dataclass(frozen=True)
class Opened:
    """A decoded image, oriented and in 8-bit RGB, with its full size after orientation (the
    pixels may be smaller: JPEG draft mode)."""

    image: Image.Image
    width: int
    height: int


DraftSide = Callable[[int, int], int]


def open_image(path: Path, draft_side: int | DraftSide | None = None) -> Opened:
    """Open ``path`` with every guard; the one way this package reads pixels from a file.

    Refuses decompression bombs (Pillow's warning level included), truncated and non-image
    files; takes the first frame of animations, applies the EXIF orientation and converts any
    mode to RGB. ``draft_side`` (a number, or a function of the oriented width and height) is
    the side of a square the pixels must still cover: large JPEGs are then decoded in draft
    mode (libjpeg's DCT scaling) at the smallest scale that covers it.

    Raises:
        DecodeError: the file cannot be shown or trained on; the message says why.
    """
    # Pillow reads this global at load time; a library imported later may have turned it on,
    # and then truncated files would come back half grey. Always the same value: thread-safe.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as image:
            _refuse_bomb_warning_level(image)
            image.seek(0)  # first frame of animations
            width, height = image.size
            if image.getexif().get(_ORIENTATION_TAG, 1) in (5, 6, 7, 8):
                width, height = height, width  # rotated by 90 or 270 degrees
            if image.format == "JPEG" and draft_side is not None:
                side = draft_side(width, height) if callable(draft_side) else draft_side
                # Draft sizes are in file orientation: a square covers both orientations.
                image.draft("RGB", (side, side))
            image.load()
            image = ImageOps.exif_transpose(image)
            return Opened(to_rgb(image), width, height)
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"decompression bomb refused ({_first_line(exc)})") from None
    except Image.DecompressionBombWarning as exc:
        raise DecodeError(f"too many pixels, possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise DecodeError("not an image Pillow can read") from None
    except FileNotFoundError:
        raise DecodeError("file is missing") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Truncated files raise OSError("image file is truncated ...") from load().
        raise DecodeError(_first_line(exc) or type(exc).__name__) from None
    except Exception as exc:  # any other decoder failure is still just an unreadable file
        raise DecodeError(f"{type(exc).__name__}: {_first_line(exc)}") from None


def decode_for_display(path: Path, geometry: Geometry) -> Decoded:
    """Open ``path`` and return it as RGB, resized to fill ``geometry`` with aspect kept.

    Never raises: a file ``open_image`` refuses comes back with ``error`` set.
    """
    if geometry.cols < 1 or geometry.rows < 1:
        return Decoded(None, error="no room to show the image")
    try:
        opened = open_image(path, lambda w, h: max(geometry.layout(w, h)[1]))
    except DecodeError as exc:
        return Decoded(None, error=str(exc))
    image = opened.image
    cells, target = geometry.layout(opened.width, opened.height)
    if target != image.size:
        shrink = target[0] < image.width
        # Shrinking: antialiased. Enlarging small images (icons, digits): crisp pixels.
        resample = Image.Resampling.LANCZOS if shrink else Image.Resampling.NEAREST
        image = image.resize(target, resample, reducing_gap=3.0 if shrink else None)
    return Decoded(image, opened.width, opened.height, cells=cells)


def decode_square(path: Path, size: int) -> Decoded:
    """``path`` as a ``size x size`` RGB image for training: the shorter side scaled to
    ``size``, the longer one centre-cropped.

    Never raises: a file ``open_image`` refuses (the same files the labeler shows as
    placeholders) comes back with ``error`` set and no image.
    """
    try:
        opened = open_image(path, size)
        image = ImageOps.fit(opened.image, (size, size), Image.Resampling.BILINEAR)
    except DecodeError as exc:
        return Decoded(None, error=str(exc))
    except (MemoryError, ValueError) as exc:  # resizing failed: unusable, not fatal
        return Decoded(None, error=f"cannot resize it: {type(exc).__name__}: {exc}")
    return Decoded(image, opened.width, opened.height)


def _refuse_bomb_warning_level(image: Image.Image) -> None:
    """Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse those too.

    Checked by hand because ``warnings.catch_warnings`` is not thread-safe and decoding runs on
    several threads.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        raise Image.DecompressionBombWarning(
            f"{image.width * image.height} pixels, limit {limit}"
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""


Loader = Callable[[Path, Geometry], Decoded]


class Prefetcher:
    """Decode images on worker threads and keep the recent ones, keyed by id and box size.

    ``request`` returns a ``Future``; asking again for the same key returns the same one, so
    the screen can ask for the next few images on every move without decoding twice.
    ``decodes`` keeps what decoding found about the images shown until it is stored.
    """

    def __init__(self, loader: Loader = decode_for_display, workers: int = 2, keep: int = 16,
                 prepare: Callable[[Image.Image], Any] | None = None):
        self._loader = loader
        self.prepare = prepare  # e.g. the renderer's strip or sixel encoding
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
        self._keep = keep
        self._cache: OrderedDict[tuple[int, Geometry], Future[Decoded]] = OrderedDict()
        self._lock = threading.Lock()
        self.decodes = DecodeLog()

    def request(self, image_id: int, path: Path, geometry: Geometry) -> Future[Decoded]:
        key = (image_id, geometry)
        with self._lock:
            future = self._cache.get(key)
            if future is not None:
                self._cache.move_to_end(key)
                return future
            future = self._pool.submit(self._load, path, geometry)
            self._cache[key] = future
            while len(self._cache) > self._keep:
                _, old = self._cache.popitem(last=False)
                old.cancel()
            return future

    def prepared(self, image_id: int, geometry: Geometry) -> bool:
        """Whether ``image_id`` is decoded (and prepared) for ``geometry`` already."""
        with self._lock:
            future = self._cache.get((image_id, geometry))
        return future is not None and future.done() and not future.cancelled()

    def _load(self, path: Path, geometry: Geometry) -> Decoded:
        decoded = self._loader(path, geometry)
        if self.prepare is not None and decoded.image is not None:
            try:
                decoded = replace(decoded, prepared=self.prepare(decoded.image))
            except Exception as exc:  # a renderer failure shows as a placeholder, no crash
                decoded = replace(decoded, image=None, error=f"cannot draw it: {exc}")
        return decoded

    def forget(self, image_id: int) -> None:
        """Drop cached decodes of one image (its file changed: what its next decode finds
        is stored again)."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == image_id]:
                del self._cache[key]
        self.decodes.forget((image_id,))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

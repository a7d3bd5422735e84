"""How sharp an image the link carries before the next key (issue 17). No textual.

Over a slow link the whole photo cannot keep up with a labeler: at 2 Mbit/s (250 KB/s) and a
key every 1.5 s the link carries about 375 KB per key, and a full-screen photo is about 1.5 MB
of base64. The ``Planner`` makes each image's layers (``uploader.prepare``) as large as
``share`` of what the link carries in one key interval: the rate the ``Uploader`` measures
from the terminal's answers (``LinkEstimate``) times the pace at which the user moves to the
next image (``KeyPace``, measured from the images shown). An image prepared before the rate
was measured, or when the link was faster or slower, is made again (on one worker thread)
before its first byte goes out when its layers are far from that budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from statistics import median

from PIL import Image

from tui_label.terminal.kitty.layers import KittyImage, prepare
from tui_label.terminal.kitty.link import LinkEstimate

SHARE = 0.8  # of the bytes between two keys: the rest for frames, placements and the CSI c
DEFAULT_PACE = 1.0  # seconds a key until two intervals are measured (a quick labeler)
PACE_KEYS = 8  # the pace: the median of the last this many intervals
BREAK_S = 10.0  # a longer interval is a pause, not the pace
SAME_KEY_S = 0.05  # images shown closer together than this came with one key (a grid page)
MIN_PIXELS = 16_000  # never smaller than this (about 160x100), whatever the link
OVER, UNDER = 1.2, 0.7  # layers over / under the budget by these factors are made again
STEP = 0.1  # ... unless the new width differs from the old by less than this fraction
MAX_REMAKES = 2
SAFETY = 0.9  # a smaller copy of a photo takes more bytes a pixel: aim a little low


@dataclass
class KeyPace:
    """Seconds between moves to a new image: ``moved()`` on each, the median of the recent
    intervals (a pause over ``BREAK_S`` is left out), None before two are measured.

    Images shown within ``SAME_KEY_S`` of the first of them came with one key (a page of the
    grid review, issue 18): one move, and ``images`` says how many the last key showed."""

    clock: Callable[[], float] = time.monotonic
    _last: float | None = None
    _gaps: deque = field(default_factory=lambda: deque(maxlen=PACE_KEYS))
    images: int = 1  # shown with the last key: they share what the link carries per key

    def moved(self) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < SAME_KEY_S:
            self.images += 1
            return
        if self._last is not None and now - self._last <= BREAK_S:
            self._gaps.append(now - self._last)
        self._last, self.images = now, 1

    @property
    def seconds(self) -> float | None:
        return median(self._gaps) if len(self._gaps) >= 2 else None


Runner = Callable[[Callable[[], None]], object]


@dataclass
class Planner:
    """The full layer's size from the link's measured rate and the user's measured pace.

    ``prepare`` (decode threads) makes an image's layers at the budget known then;
    ``needs_remake`` tells the uploader an image not yet begun is far from the budget, and
    ``remake`` makes its layers again through ``run`` (a worker thread unless given).
    """

    link: LinkEstimate = field(default_factory=LinkEstimate)
    pace: KeyPace = field(default_factory=KeyPace)
    share: float = SHARE
    run: Runner | None = None
    _bpp: float | None = None  # bytes of both layers per full-layer pixel, recent images
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None

    def budget(self) -> float | None:
        """Bytes both layers of an image may take: what the link carries in one key
        interval, times ``share``, shared by the images the last key showed; None while the
        rate is not measured."""
        if self.link.rate is None:
            return None
        return (self.link.rate * (self.pace.seconds or DEFAULT_PACE) * self.share
                / max(1, self.pace.images))

    def prepare(self, image: Image.Image) -> KittyImage:
        """The layers of ``image`` at the budget known now (any thread)."""
        budget, bpp = self.budget(), self._bpp
        size = None if budget is None or bpp is None else self._size(image, budget / bpp)
        return self._made(prepare(image, size))

    def needs_remake(self, image: KittyImage) -> bool:
        """Whether ``image`` should be made again before its first byte goes out."""
        budget = self.budget()
        if (budget is None or image.source is None or image.remade >= MAX_REMAKES
                or image.low.started or image.full.started):
            return False
        size = image.low.size + image.full.size
        sharper = image.full.width < image.source.width
        if not (size > budget * OVER or (sharper and size < budget * UNDER)):
            return False
        pixels = image.full.width * image.full.height
        new = self._size(image.source, budget / (size / pixels)) or image.source.size
        return abs(new[0] - image.full.width) > STEP * image.full.width

    def remake(self, image: KittyImage, done: Callable[[KittyImage], None]) -> None:
        """Make ``image``'s layers again at the budget (on the worker), then ``done(new)``:
        the caller puts the new layers in place if the old ones are still not begun."""
        source, budget = image.source, self.budget()
        pixels = image.full.width * image.full.height
        size = None if source is None or budget is None else self._size(
            source, budget / ((image.low.size + image.full.size) / pixels))

        def job() -> None:
            try:
                new = image if source is None else self._made(prepare(source, size))
                new.remade = image.remade + 1
            except Exception:  # noqa: BLE001 (never left waiting: the old layers go)
                new, image.remade = image, MAX_REMAKES
            done(new)

        if self.run is not None:
            self.run(job)
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kitty-plan")
        self._pool.submit(job)

    def _made(self, image: KittyImage) -> KittyImage:
        pixels = image.full.width * image.full.height
        bpp = (image.low.size + image.full.size) / max(1, pixels)
        with self._lock:
            self._bpp = bpp if self._bpp is None else 0.5 * (self._bpp + bpp)
        return image

    @staticmethod
    def _size(source: Image.Image, pixels: float) -> tuple[int, int] | None:
        """``source``'s size scaled to about ``pixels`` pixels (never larger than itself, never
        under ``MIN_PIXELS``); None for its own size."""
        scale = math.sqrt(max(MIN_PIXELS, pixels * SAFETY) / (source.width * source.height))
        if scale >= 1:
            return None
        return max(1, round(source.width * scale)), max(1, round(source.height * scale))

"""What the labeling screen shows, and whether a key may act on it.

``ImageStage`` asks the prefetcher for the current image, hands it to the ``ImageView`` and
records when the refresh that draws it is done. Only then is the image *shown*: a key labels
only what was drawn, also when keys come faster than images decode. The screen owns one stage
and forwards ``ImageDecoded`` and ``ImageView.Resized`` to it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from textual.screen import Screen

from tui_label.core.types import QueueItem
from tui_label.labeling.session import LabelSession
from tui_label.media.decode import Decoded, Geometry, Prefetcher
from tui_label.tui.screens.messages import ImageDecoded
from tui_label.tui.widgets.image_view import ImageView

PREFETCH_AHEAD = 4


@dataclass
class Painted:
    """One image that reached the screen: used by the latency benchmark and tests."""

    image_id: int
    action_time: float  # perf_counter() when the key's action ran
    painted_time: float  # perf_counter() after the refresh that drew it


class ImageStage:
    """The image on screen and the paint gating of one labeling screen.

    Args:
        screen: the screen whose ``ImageView`` shows the images (and that gets ``ImageDecoded``).
        on_status: redraws the status lines (after every change of the image).
        on_first_paint: called once, after the first image is drawn (start-up work waits
            for it: the first image is never slowed).
        suggestions_shown: whether the suggestions line is on (it prefetches them too).
    """

    def __init__(self, screen: Screen, session: LabelSession, prefetcher: Prefetcher,
                 root: Path, *, on_status: Callable[[], None],
                 on_first_paint: Callable[[], None],
                 suggestions_shown: Callable[[], bool]) -> None:
        self.screen, self.session, self.prefetcher, self.root = screen, session, prefetcher, root
        self._on_status, self._on_first_paint = on_status, on_first_paint
        self._suggestions_shown = suggestions_shown
        self.shown_id: int | None = None  # the image drawn on screen now; keys label this one
        self._displayed_id: int | None = None  # handed to the view, maybe not drawn yet
        self._fitted_to: Geometry | None = None  # the area the image on screen was fitted to
        self._shown_decoded: Decoded | None = None  # what the view shows now
        self.shown_at = 0.0
        self.painted: deque[Painted] = deque(maxlen=5000)
        self.action_time = 0.0  # perf_counter() of the last key's action

    def key_pressed(self) -> None:
        """A key's action runs now (the latency record and the GC's idle clock read it)."""
        self.action_time = time.perf_counter()

    def seen_ms(self) -> int | None:
        """How long the current image has been on screen, in ms; None when it is not drawn
        yet (then a key must not act on it)."""
        item = self.session.current
        if item is None or self.shown_id != item.id:
            return None
        return int((time.monotonic() - self.shown_at) * 1000)

    def _view(self) -> ImageView:
        return self.screen.query_one(ImageView)

    def _request(self, item: QueueItem, geometry: Geometry) -> Future[Decoded]:
        return self.prefetcher.request(item.id, self.root / item.path, geometry)

    def show_current(self) -> None:
        """Put the current queue item on screen (or ask for it) and prefetch around it."""
        view = self._view()
        item, geometry = self.session.current, view.geometry()
        # The same image drawn again (a resize, the suggestions line taking a row) stays
        # seen: keys keep acting on it. Another image is only acted on once drawn.
        if item is None or item.id != self.shown_id:
            self.shown_id = None
        self._displayed_id = None
        self._fitted_to = geometry
        if item is None:
            view.show_message(self.session.end_message())
        elif geometry is not None:
            future = self._request(item, geometry)
            if future.done():
                self._display(item, future.result())  # prefetch once it is drawn
            else:
                view.show_message(f"loading {item.path} …")
                image_id, post = item.id, self.screen.post_message
                future.add_done_callback(lambda _f: post(ImageDecoded(image_id)))
                self._prefetch_around(geometry)
        self._on_status()

    def _prefetch_around(self, geometry: Geometry | None = None) -> None:
        """Decode the next few images and the previous one in the background.

        Called after the current image is drawn, not before: preparing strips or sixels holds
        Python's GIL for milliseconds, which would otherwise delay drawing this one.
        """
        geometry = geometry or self._view().geometry()
        if geometry is not None:
            ahead = self.session.ahead(PREFETCH_AHEAD)
            futures = [self._request(item, geometry) for item in ahead]
            self._view().prefetched(futures)  # kitty: uploaded ahead
            if self._suggestions_shown():
                self.session.prefetch_suggestions(ahead)  # not on the key that shows them

    def ahead_changed(self) -> None:
        """The queue behind the image on screen was ranked again (a new model, typical first's
        pixels): decode, and with kitty upload, its next images instead."""
        if self.painted:
            self._prefetch_around()

    def _display(self, item: QueueItem, decoded: Decoded) -> None:
        view = self._view()
        self._displayed_id = item.id
        self._shown_decoded = decoded
        if decoded.error:
            view.show_message(f"⚠ cannot show {item.path}\n{decoded.error}\n\n"
                              "label or skip it with the usual keys")
        else:
            view.show_image(decoded)
        self.prefetcher.decodes.note(item.id, decoded.width or None, decoded.height or None,
                                     decoded.error)
        self.screen.call_after_refresh(self._painted, item.id, self.action_time)

    def _painted(self, image_id: int, action_time: float) -> None:
        """The refresh that draws ``image_id`` is done: from now on keys label it."""
        item = self.session.current
        if item is None or item.id != image_id:
            return  # the user moved on before it was drawn
        first = not self.painted
        self.shown_id = image_id
        self.shown_at = time.monotonic()
        self.painted.append(Painted(image_id, action_time, time.perf_counter()))
        self._prefetch_around()
        if first:
            self._on_first_paint()

    def decoded(self, image_id: int) -> None:
        """``ImageDecoded``: a decode the screen waited for is done."""
        item, geometry = self.session.current, self._view().geometry()
        if item is None or item.id != image_id or geometry is None:
            return  # the user moved on meanwhile
        future = self._request(item, geometry)
        if not future.done():
            self.show_current()  # the area changed while it decoded: wait for this size
        elif self._displayed_id != item.id:
            self._display(item, future.result())
            self._on_status()

    def resized(self) -> None:
        """``ImageView.Resized``: fit the image again when the area it was fitted to changed.

        The layout settles after the refresh that a change asked for: an area that is not the
        one the image was fitted to gets it fitted again (once: the same area, nothing).
        """
        geometry, shown, item = self._view().geometry(), self._shown_decoded, self.session.current
        if geometry == self._fitted_to or self._displayed_id is None:
            return  # the same area, or nothing shown yet (the show on its way reads the area)
        if (geometry is not None and shown is not None and shown.image is not None
                and item is not None and self._displayed_id == item.id
                and geometry.layout(shown.width, shown.height) == (shown.cells,
                                                                   shown.image.size)):
            self._fitted_to = geometry  # the image would come out the same: not sent again
            return
        self.show_current()

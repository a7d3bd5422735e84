"""The pre-sender (issue 11): images as layers (``layers.py``), uploaded ahead of the key that
shows them, paced on the terminal's answers. With a ``Planner`` (planner.py, issue 17) the full
layer is as sharp as the measured link carries between two keys. No textual.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from tui_label.terminal.kitty.layers import (  # noqa: F401 (re-exported: the pre-sender's API)
    LOW_BITS_MASK,
    STRIP_BYTES,
    KittyImage,
    Layer,
    make_layer,
    new_ids,
    new_image_id,
    prepare,
)
from tui_label.terminal.kitty.link import LinkEstimate
from tui_label.terminal.kitty.protocol import DA1, delete
from tui_label.terminal.kitty.replies import Reply

# ---------------------------------------------------------------------------------- pre-sender

Writer = Callable[[bytes], None]


class Plans(Protocol):
    """What the uploader asks of a ``planner.Planner`` (which imports this module)."""

    pace: KeyPaceLike

    def needs_remake(self, image: KittyImage) -> bool: ...

    def remake(self, image: KittyImage, done: Callable[[KittyImage], None]) -> None: ...


class KeyPaceLike(Protocol):
    def moved(self) -> None: ...


@dataclass
class _InFlight:
    size: int
    sent: float


@dataclass
class Uploader:
    """Uploads layers to the terminal in paced pieces, in priority order, within a budget.

    Thread-safe: the UI thread says what is shown and what comes next (``show``, ``ahead``),
    the input thread hands in the terminal's answers (``on_reply``). Each piece is followed by
    ``CSI c``; the next piece goes once the bytes still unanswered are fewer than the link
    carries in a round trip plus ``queue_s``, so a placement written later waits behind
    little. ``write`` must keep the order of what it is given (Textual's writer thread does).
    ``started(layer)`` and each ``listen``-er are called (on any thread) when the full layer
    of an image on screen begins to upload after ``show``: it must then be placed. Several
    images may be on screen at once (a grid page): each ``show`` names its ``slot`` (the
    widget), ``hide`` takes it off. A ``planner`` (on ``link``): see ``_waiting``.
    """

    write: Writer
    budget: int = 96 * 2**20  # bytes of decoded pixels the terminal may hold for us
    queue_s: float = 0.015  # what a placement may wait behind, beyond the round trip
    min_piece: int = 8_000
    max_window: int = 4 * 2**20
    stall_s: float = 3.0  # no answer for this long: the terminal does not answer CSI c
    started: Callable[[Layer], None] = lambda layer: None
    clock: Callable[[], float] = time.monotonic
    link: LinkEstimate = field(default_factory=LinkEstimate)
    planner: Plans | None = None
    _remaking: set = field(default_factory=set)  # id() of the images being made again
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _shown: KittyImage | None = None  # the image shown last
    _visible: dict[int, KittyImage] = field(default_factory=dict)  # on screen, by slot
    _listeners: list[Callable[[Layer], None]] = field(default_factory=list)
    _ahead: list[KittyImage] = field(default_factory=list)
    # Uploaded (or begun), by last use, by id(); and their layers' memory, summed (a grid
    # page's 70 shows summed 500 images each).
    _held: dict[int, KittyImage] = field(default_factory=dict)
    _held_bytes: int = 0
    _flight: deque = field(default_factory=deque)
    _flight_bytes: int = 0  # the sizes in _flight, summed
    _last_answer: float = 0.0
    _paused: bool = False
    _hold_until: float = 0.0
    silent: bool = False  # gave up waiting for answers: pre-sending stops
    bytes_written: int = 0
    _last_piece: int = 0  # bytes of the last paced piece

    # -- what the screen wants

    def show(self, image: KittyImage, slot: int = 0) -> list[Layer]:
        """``image`` is about to be placed (in ``slot``, replacing what it showed): what is
        missing of its low layer is written at once, unpaced (unless its full layer is
        complete). Pre-sending pauses until ``resume`` (call it once the frame with the
        placement is written). Returns the layers to place, bottom first."""
        with self._lock:
            if self.planner is not None and image is not self._shown:
                self.planner.pace.moved()
            self._shown = image
            self._visible.pop(slot, None)
            self._visible[slot] = image  # the newest last
            self._paused = True
            self._remember(image)
            if not image.full.complete:
                self._send(image.low, everything=True)
            self._evict()
            return self.placeable(image)

    def hide(self, slot: int = 0) -> None:
        """``slot`` shows nothing now: its image may be freed like any other."""
        with self._lock:
            self._visible.pop(slot, None)

    def listen(self, callback: Callable[[Layer], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def unlisten(self, callback: Callable[[Layer], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def placeable(self, image: KittyImage) -> list[Layer]:
        with self._lock:
            if image.full.complete:
                return [image.full]
            return [layer for layer in image.layers if layer.started]

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._hold_until = 0.0
            self._pump()

    def hold(self, seconds: float = 0.3) -> None:
        """A key was read: write no new piece for a while, so that the placement it may
        lead to waits behind nothing (``show`` and ``resume`` end the wait)."""
        with self._lock:
            self._hold_until = self.clock() + seconds

    def ahead(self, images: list[KittyImage]) -> None:
        """The images that come next, nearest first: uploaded in the background."""
        with self._lock:
            on_screen = {id(v) for v in self._on_screen()}
            self._ahead = [i for i in images if id(i) not in on_screen]
            self._evict()
            self._pump()

    # -- answers

    def on_reply(self, reply: Reply) -> None:
        with self._lock:
            if reply.attributes is not None:
                if self._flight:
                    piece = self._flight.popleft()
                    self._flight_bytes -= piece.size
                    now = self.clock()
                    self.link.update(piece.size, piece.sent, now, self._last_answer)
                    self._last_answer = now
                self.silent = False
                self._pump()
            elif not reply.ok and reply.image_id:
                self._forget(reply.image_id)  # the terminal refused it: upload again later

    def tick(self) -> None:
        """Called now and then: a terminal that stopped answering stops the pre-sending."""
        with self._lock:
            if self._flight and self.clock() - self._flight[0].sent > self.stall_s:
                self.silent = True
                self._flight.clear()
                self._flight_bytes = 0
            self._pump()  # a hold may have ended with nothing in flight to wake it

    def in_flight(self) -> int:
        with self._lock:
            return self._flight_bytes

    def memory(self) -> int:
        """Bytes of decoded pixels the terminal holds for us (layers uploaded or begun)."""
        with self._lock:
            return sum(image.memory for image in self._held.values())

    # -- inside, under the lock

    def _window(self) -> int:
        """A round trip of the link and ``queue_s``, plus a piece: a piece is answered only
        once its last byte is through, so without it the line idles (issue 17: at 2 Mbit/s
        one strip filled the window and the link carried 60% of its rate)."""
        rate = self.link.rate or 250_000.0
        rtt = self.link.rtt or 0.05
        return min(self.max_window, max(self.min_piece, int(rate * (rtt + self.queue_s)))
                   + self._last_piece)

    def _piece_limit(self) -> int:
        return max(self.min_piece, int((self.link.rate or 250_000.0) * self.queue_s))

    def _on_screen(self) -> list[KittyImage]:
        """The image shown last, then the others on screen, newest first."""
        shown = [self._shown] if self._shown is not None else []
        return shown + [i for i in reversed(self._visible.values()) if i is not self._shown]

    def _order(self) -> list[tuple[KittyImage, Layer]]:
        """Layers still to upload, most wanted first: the low layers of the images on screen
        and the next three, then the full layers of those on screen, then the rest in queue
        order."""
        shown = self._on_screen()
        order = [(i, i.low) for i in shown + self._ahead[:3] if not i.full.complete]
        order += [(i, i.full) for i in shown]
        lows = {id(i) for i, _ in order}  # (a set: a page of 70 made this quadratic)
        for image in self._ahead:
            if id(image) not in lows and not image.full.complete:
                order.append((image, image.low))
            order.append((image, image.full))
        return [(i, layer) for i, layer in order if not layer.complete and not self._waiting(i)]

    def _waiting(self, image: KittyImage) -> bool:
        """With a planner (which counts the pace from ``show``), an image not begun waits for
        its remake, and, while a busy line gives no rate yet, for a first rate: once known,
        an image far from what the link carries per key is made again first."""
        return id(image) in self._remaking or (
            self.planner is not None and self.link.rate is None and bool(self._flight)
            and all(image is not i for i in self._on_screen())
            and not (image.low.started or image.full.started))

    def _pump(self) -> None:
        """Send pieces of the most wanted layers while the window has room; a layer whose
        image does not fit in the budget is passed over (those after it, an image on
        screen's full layer say, may go). The order is made once a pump (once a piece made
        it quadratic: a grid page is 140 layers)."""
        if (self._paused or self.silent or self.clock() < self._hold_until
                or self._flight_bytes >= self._window()):
            return
        for image, layer in self._order():
            if id(image) in self._remaking:
                continue  # waits for its remake (begun for its other layer)
            if self.planner is not None and self.planner.needs_remake(image):
                self._remaking.add(id(image))
                self.planner.remake(image, partial(self._remade, image))
                continue
            while not layer.complete and self._flight_bytes < self._window():
                if id(image) not in self._held:
                    self._remember(image)
                    self._evict()
                    if id(image) not in self._held:
                        break  # no room for it within the budget
                self._send(layer)
            if self._flight_bytes >= self._window():
                return

    def _send(self, layer: Layer, everything: bool = False) -> None:
        if layer.complete:
            return
        first = layer.sent == 0
        limit = len(layer.pieces) if everything else self._piece_limit()
        parts: list[bytes] = []
        size = 0
        while not layer.complete and (not parts or everything
                                      or size + len(layer.pieces[layer.sent]) <= limit):
            parts.append(layer.pieces[layer.sent])
            size += len(parts[-1])
            layer.sent += 1
        self.bytes_written += size + len(DA1)
        if not everything:
            self._last_piece = size
        self.write(b"".join(parts) + DA1)
        self._flight.append(_InFlight(size, self.clock()))
        self._flight_bytes += size
        if first and not self._paused and any(layer is i.full for i in self._on_screen()):
            self.started(layer)
            for callback in list(self._listeners):
                callback(layer)

    def _remade(self, image: KittyImage, new: KittyImage) -> None:  # any thread
        with self._lock:
            self._remaking.discard(id(image))
            if not (image.low.started or image.full.started):
                held = id(image) in self._held
                self._held_bytes -= _footprint(image) if held else 0
                image.low, image.full, image.remade = new.low, new.full, new.remade
                self._held_bytes += _footprint(image) if held else 0
            self._evict()
            self._pump()

    def _remember(self, image: KittyImage) -> None:
        if self._held.pop(id(image), None) is None:
            self._held_bytes += _footprint(image)
        self._held[id(image)] = image

    def _need(self) -> int:
        return self._held_bytes

    def _evict(self) -> None:
        """Free images while over the budget: those that left the window first (least
        recently used first), then the furthest ahead; never those on screen or the next."""
        if self._held_bytes <= self.budget:
            return
        keep = {*(id(i) for i in self._on_screen()), *(id(i) for i in self._ahead[:1])}
        ahead = {id(image): n for n, image in enumerate(self._ahead)}
        held = {key: n for n, key in enumerate(self._held)}

        def distance(image: KittyImage) -> int:
            if id(image) in ahead:
                return 1 + ahead[id(image)]
            return 1000 + len(self._held) - held[id(image)]

        for image in sorted(self._held.values(), key=distance, reverse=True):
            if self._held_bytes <= self.budget:
                return
            if id(image) not in keep:
                self._free(image)  # takes its footprint off _held_bytes

    def _free(self, image: KittyImage) -> None:
        for layer in image.layers:
            if layer.started:
                self.bytes_written += len(delete(layer.image_id, free=True))
                self.write(delete(layer.image_id, free=True))
            layer.sent = 0
        del self._held[id(image)]
        self._held_bytes -= _footprint(image)

    def _forget(self, image_id: int) -> None:
        for image in self._held.values():
            for layer in image.layers:
                if layer.image_id == image_id:
                    layer.sent = 0


def _footprint(image: KittyImage) -> int:
    """What an image held may take in the terminal: both layers, decoded."""
    return image.low.memory + image.full.memory

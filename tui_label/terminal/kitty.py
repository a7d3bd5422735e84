"""The kitty graphics protocol, headless: commands as bytes, the terminal's replies, and the
pre-sender that uploads images ahead of the key that shows them (issue 11).

Images are placed directly at the cursor (``a=p``), never through Unicode placeholders, so
kitty before 0.28 draws them too. No textual here: the widget (widgets/kitty_picture.py)
decides where and when; this module only says what goes on the wire.

An image is uploaded as a *layer*: a transparent canvas of its full size (a few KB, deflated
zeros), then horizontal strips written into it with animation-frame edits
(``a=f,r=1,x=0,y=Y``). Every strip is a complete command, so uploads can be cut into pieces
between which a placement may be written; a placed layer fills in as its strips arrive.
Each image has two layers: ``low`` (half the resolution each way, placed at the full cell
size: kitty scales it) and ``full`` on top of it.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

APC, ST = b"\x1b_G", b"\x1b\\"
CHUNK = 4096  # base64 bytes per escape code, the protocol's limit
DA1 = b"\x1b[c"  # primary device attributes: every terminal answers, in order


# ---------------------------------------------------------------------------------- commands

def command(keys: dict[str, object], payload: bytes = b"") -> bytes:
    """One graphics command; a payload over ``CHUNK`` base64 bytes goes in chunks (``m=1``
    on every chunk but the last, whose ``m=0`` ends it; later chunks carry only ``m`` and
    ``q``, and ``a=f,r=N`` for frame edits)."""
    control = ",".join(f"{k}={v}" for k, v in keys.items()).encode()
    if not payload:
        return APC + control + ST
    data = base64.standard_b64encode(payload)
    if len(data) <= CHUNK:
        return APC + control + b";" + data + ST
    quiet = f",q={keys['q']}".encode() if "q" in keys else b""
    # kitty 0.26 reads a chunk without a= as a transmission's: frame edits repeat a=f and
    # the frame number in every chunk (without them the image ends up replaced or untouched)
    action = f"a=f,r={keys.get('r', 1)},".encode() if keys.get("a") == "f" else b""
    parts = []
    for offset in range(0, len(data), CHUNK):
        more = b"m=1" if offset + CHUNK < len(data) else b"m=0"
        head = control + b"," + more if offset == 0 else action + more + quiet
        parts.append(APC + head + b";" + data[offset:offset + CHUNK] + ST)
    return b"".join(parts)


@dataclass(frozen=True)
class Pixels:
    """Compressed pixel data and the keys that describe it (format, compression, size)."""

    keys: dict[str, object]
    data: bytes


def encode_pixels(image: Image.Image, png_level: int = 6, only: int | None = None) -> Pixels:
    """The smaller of zlib-deflated raw RGB (``f=24,o=z``) and PNG (``f=100``); ``only``
    (24 or 100) encodes that one alone."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    candidates = []
    if only in (None, 24):
        raw = zlib.compress(rgb.tobytes(), 1)
        candidates.append(Pixels({"f": 24, "o": "z", "s": rgb.width, "v": rgb.height}, raw))
    if only in (None, 100):
        out = io.BytesIO()
        rgb.save(out, "PNG", compress_level=png_level)
        candidates.append(Pixels({"f": 100}, out.getvalue()))
    return min(candidates, key=lambda p: len(p.data))


def transmit(image_id: int, image: Image.Image, quiet: int = 1) -> bytes:
    """Upload ``image`` under ``image_id`` without placing it (``a=t``)."""
    pixels = encode_pixels(image)
    return command({"a": "t", "i": image_id, "q": quiet, **pixels.keys}, pixels.data)


def canvas(image_id: int, width: int, height: int, quiet: int = 1) -> bytes:
    """A transparent ``width x height`` image to edit into: a 1-bit PNG whose one colour is
    transparent (a few hundred bytes at any size)."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", transparency=0)
    return command({"a": "t", "i": image_id, "q": quiet, "f": 100}, out.getvalue())


def edit(image_id: int, pixels: Pixels, y: int, quiet: int = 1) -> bytes:
    """Write ``pixels`` into the image's first frame at row ``y`` (``a=f,r=1``)."""
    return command({"a": "f", "r": 1, "i": image_id, "x": 0, "y": y, "q": quiet,
                    **pixels.keys}, pixels.data)


def place(image_id: int, cols: int, rows: int, placement_id: int | None = 1,
          z: int | None = None) -> bytes:
    """Show an uploaded image at the cursor, scaled to ``cols x rows`` cells; the cursor
    stays where it is (``C=1``). Placing again with the same ids moves the placement."""
    keys: dict[str, object] = {"a": "p", "i": image_id}
    if placement_id is not None:
        keys["p"] = placement_id
    keys.update(c=cols, r=rows, C=1)
    if z is not None:
        keys["z"] = z
    keys["q"] = 2
    return command(keys)


def delete(image_id: int, free: bool = False) -> bytes:
    """Remove the image's placements (``d=i``); with ``free`` its data too (``d=I``)."""
    return command({"a": "d", "d": "I" if free else "i", "i": image_id, "q": 2})


# ---------------------------------------------------------------------------------- parsing

@dataclass
class Command:
    """A graphics command as the terminal sees it, chunks joined, payload decoded."""

    keys: dict[str, str]
    payload: bytes = b""

    @property
    def action(self) -> str:
        return self.keys.get("a", "t")

    @property
    def image_id(self) -> int:
        return int(self.keys.get("i", 0))

    def __len__(self) -> int:
        return len(self.payload)


_APC_RE = re.compile(rb"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")


def _keys(control: bytes) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in control.decode().split(",") if "=" in kv)


def parse_commands(data: bytes) -> list[tuple[int, Command]]:
    """Every graphics command in ``data`` with the offset where it ends; a chunked one is
    reported once, at its last chunk, with its first chunk's keys."""
    found: list[tuple[int, Command]] = []
    pending: Command | None = None
    encoded = b""
    for m in _APC_RE.finditer(data):
        keys = _keys(m.group(1))
        chunk = m.group(2) or b""
        if pending is None:
            pending, encoded = Command(keys), chunk
        else:
            encoded += chunk
        if keys.get("m") != "1":
            pending.keys.pop("m", None)
            pending.payload = base64.standard_b64decode(encoded) if encoded else b""
            found.append((m.end(), pending))
            pending = None
    return found


@dataclass(frozen=True)
class Reply:
    """The terminal's answer to a graphics command, ``ESC _G i=ID;OK ESC \\``, or to the
    device attributes query (``image_id`` 0, ``attributes`` set)."""

    image_id: int = 0
    message: str = ""
    attributes: tuple[int, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.message == "OK"


def parse_reply(text: str) -> Reply | None:
    """The reply in one APC sequence (``ESC _G keys;message ESC \\``), or None."""
    m = re.fullmatch(r"\x1b_G([^;\x1b]*);?([^\x1b]*)\x1b\\", text)
    if m is None:
        return None
    keys = dict(kv.split("=", 1) for kv in m.group(1).split(",") if "=" in kv)
    try:
        image_id = int(keys.get("i", "0"))
    except ValueError:
        image_id = 0
    return Reply(image_id, m.group(2))


_DA1_BODY = re.compile(r"\x1b\[\?[\d;]*c")
_MAX_REPLY = 4096  # longer than any reply: such "APC" text is passed on as typed


class ReplyFilter:
    """Takes the terminal's replies out of the input before it is parsed as keys.

    ``feed(text)`` returns the text with every kitty graphics reply (``ESC _G ... ESC \\``)
    and every device attributes reply (``CSI ? ... c``) removed, and the replies. The other
    answers of the start-up probe are dropped too, should one come after the probe's time
    limit: XTVERSION and any other DCS string (``ESC P ... ESC \\``), the cell size (``CSI 6 ;
    h ; w t``, and ``4``/``8`` for the window) and XTSMGRAPHICS (``CSI ? ... S``); Textual
    would read them as key presses (a class key among them). A reply cut
    across two reads is held back until its end arrives; ``flush()`` gives back held text
    that never became a reply (an Escape key press, say) once the caller has waited long
    enough.
    """

    def __init__(self) -> None:
        self._held = ""
        self.held_since: float | None = None

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def feed(self, text: str, now: float | None = None) -> tuple[str, list[Reply]]:
        text = self._held + text
        self._held = ""
        out: list[str] = []
        replies: list[Reply] = []
        pos = 0
        while (esc := text.find("\x1b", pos)) >= 0:
            out.append(text[pos:esc])
            end, reply, partial = self._match(text, esc)
            if partial:
                self._held = text[esc:]
                self.held_since = time.monotonic() if now is None else now
                return "".join(out), replies
            if reply is not None:
                replies.append(reply)
                pos = end
            else:
                out.append("\x1b")
                pos = esc + 1
        out.append(text[pos:])
        self.held_since = None
        return "".join(out), replies

    def flush(self) -> str:
        held, self._held, self.held_since = self._held, "", None
        return held

    @staticmethod
    def _match(text: str, esc: int) -> tuple[int, Reply | None, bool]:
        """(end, reply, partial) for the escape sequence starting at ``esc``."""
        rest = text[esc + 1:esc + 3]
        if rest in ("", "_", "[", "P"):
            return 0, None, True  # could still become a reply
        if rest[0] == "P":  # a DCS string: XTVERSION's answer, say
            end = text.find("\x1b\\", esc + 2)
            if end < 0:
                return 0, None, len(text) - esc < _MAX_REPLY
            return end + 2, Reply(), False
        if rest[0] == "[" and rest[1].isdigit():  # CSI 6 ; h ; w t: a size report
            i = esc + 2
            while i < len(text) and (text[i].isdigit() or text[i] == ";"):
                i += 1
            if i == len(text):
                return 0, None, True
            if text[i] == "t" and text[esc + 2:i].split(";")[0] in ("4", "6", "8"):
                return i + 1, Reply(), False
            return 0, None, False
        if rest == "_G":
            end = text.find("\x1b\\", esc + 3)
            if end < 0:
                return 0, None, len(text) - esc < _MAX_REPLY
            return end + 2, parse_reply(text[esc:end + 2]) or Reply(), False
        if rest == "[?":
            i = esc + 3
            while i < len(text) and (text[i].isdigit() or text[i] == ";"):
                i += 1
            if i == len(text):
                return 0, None, True
            if text[i] == "c" and _DA1_BODY.fullmatch(text, esc, i + 1):
                body = text[esc + 3:i]
                attributes = tuple(int(p) for p in body.split(";") if p.isdigit())
                return i + 1, Reply(attributes=attributes), False
            if text[i] == "S":  # XTSMGRAPHICS: CSI ? item ; status ; values S
                return i + 1, Reply(), False
        return 0, None, False


# ---------------------------------------------------------------------------------- layers

_ids = itertools.count(0x2A0001)
_ids_lock = threading.Lock()


def new_image_id() -> int:
    with _ids_lock:
        return next(_ids) & 0xFFFFFFFF or next(_ids)


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


def make_layer(image: Image.Image, png_level: int = 6) -> Layer:
    image_id = new_image_id()
    rows = max(1, STRIP_BYTES // max(1, image.width * 3))
    pieces = [canvas(image_id, image.width, image.height)]
    chosen = None  # the format that won on the first strip: the others alike, half the work
    for y in range(0, image.height, rows):
        strip = image.crop((0, y, image.width, min(image.height, y + rows)))
        pixels = encode_pixels(strip, png_level, chosen)
        chosen = int(pixels.keys["f"])  # type: ignore[call-overload]
        pieces.append(edit(image_id, pixels, y))
    return Layer(image_id, image.width, image.height, pieces)


@dataclass
class KittyImage:
    """What the decode thread prepares for one image: its two layers."""

    low: Layer
    full: Layer

    @property
    def layers(self) -> tuple[Layer, Layer]:
        return self.low, self.full

    @property
    def memory(self) -> int:
        return sum(layer.memory for layer in self.layers if layer.started)


LOW_BITS_MASK = 0xFC  # the low layer keeps 6 bits a channel: 35-45% fewer bytes on photos


def prepare(image: Image.Image) -> KittyImage:
    """The two layers of ``image`` (run on a decode thread: tens to hundreds of ms).

    The low layer is half the resolution each way with 6 bits a channel (sensor noise in the
    last two bits is what PNG compresses worst); the full layer replaces it.
    """
    half = image.resize((max(1, image.width // 2), max(1, image.height // 2)),
                        Image.Resampling.BILINEAR)
    half = Image.fromarray(np.asarray(half.convert("RGB")) & LOW_BITS_MASK)
    return KittyImage(make_layer(half, 6), make_layer(image, 2))


# ---------------------------------------------------------------------------------- pre-sender

Writer = Callable[[bytes], None]


@dataclass
class LinkEstimate:
    """Round trip and rate, measured from the answers to the pieces' ``CSI c``.

    The rate is the bytes answered over the time they took while the line stayed busy (each
    piece sent before the previous one was answered), over at least ``min_span`` seconds:
    answers read in a burst (the app was busy) then barely move it. A rate sample may at
    most double the estimate. The round trip is the smallest answer time of a piece sent
    onto an idle line, less the time its own bytes took on the line.
    """

    rtt: float | None = None  # seconds
    rate: float | None = None  # bytes a second
    samples: int = 0
    min_span: float = 0.15
    _busy_start: float | None = None
    _busy_bytes: int = 0

    def update(self, size: int, sent: float, answered: float, previous: float) -> None:
        self.samples += 1
        if previous > sent:  # queued behind the previous piece: the line was busy
            if self._busy_start is None:
                self._busy_start, self._busy_bytes = previous, 0
            self._busy_bytes += size
            span = answered - self._busy_start
            if span >= self.min_span:
                sample = self._busy_bytes / span
                self.rate = sample if self.rate is None else min(sample, 2 * self.rate)
        else:
            self._busy_start = None
            line = size / self.rate if self.rate else 0.0
            rtt = max(0.001, answered - sent - line)
            if self.rtt is None or rtt < self.rtt:
                self.rtt = rtt


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
    ``started(layer)`` is called (on any thread) when the shown image's full layer begins to
    upload after ``show``: it must then be placed.
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
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _shown: KittyImage | None = None
    _ahead: list[KittyImage] = field(default_factory=list)
    _held: list[KittyImage] = field(default_factory=list)  # uploaded (or begun), by last use
    _flight: deque = field(default_factory=deque)
    _last_answer: float = 0.0
    _paused: bool = False
    _hold_until: float = 0.0
    silent: bool = False  # gave up waiting for answers: pre-sending stops
    bytes_written: int = 0

    # -- what the screen wants

    def show(self, image: KittyImage) -> list[Layer]:
        """``image`` is about to be placed: what is missing of its low layer is written at
        once, unpaced (unless its full layer is complete). Pre-sending pauses until
        ``resume`` (call it once the frame with the placement is written). Returns the layers
        to place, bottom first."""
        with self._lock:
            self._shown = image
            self._paused = True
            self._remember(image)
            if not image.full.complete:
                self._send(image.low, everything=True)
            self._evict()
            return self.placeable(image)

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
            self._ahead = [i for i in images if i is not self._shown]
            self._evict()
            self._pump()

    # -- answers

    def on_reply(self, reply: Reply) -> None:
        with self._lock:
            if reply.attributes is not None:
                if self._flight:
                    piece = self._flight.popleft()
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
            self._pump()  # a hold may have ended with nothing in flight to wake it

    def in_flight(self) -> int:
        with self._lock:
            return sum(p.size for p in self._flight)

    def memory(self) -> int:
        """Bytes of decoded pixels the terminal holds for us (layers uploaded or begun)."""
        with self._lock:
            return sum(image.memory for image in self._held)

    # -- inside, under the lock

    def _window(self) -> int:
        rate = self.link.rate or 250_000.0
        rtt = self.link.rtt or 0.05
        return min(self.max_window, max(self.min_piece, int(rate * (rtt + self.queue_s))))

    def _piece_limit(self) -> int:
        return max(self.min_piece, int((self.link.rate or 250_000.0) * self.queue_s))

    def _order(self) -> list[tuple[KittyImage, Layer]]:
        """Layers still to upload, most wanted first: the low layers of the shown image and
        the next three, then the shown image's full layer, then the rest in queue order."""
        shown = [self._shown] if self._shown is not None else []
        order = [(i, i.low) for i in shown + self._ahead[:3] if not i.full.complete]
        order += [(i, i.full) for i in shown]
        for image in self._ahead:
            if (image, image.low) not in order and not image.full.complete:
                order.append((image, image.low))
            order.append((image, image.full))
        return [(i, layer) for i, layer in order if not layer.complete]

    def _pump(self) -> None:
        if self._paused or self.silent or self.clock() < self._hold_until:
            return
        while self.in_flight() < self._window():
            todo = self._order()
            if not todo:
                return
            image, layer = todo[0]
            if image not in self._held:
                self._remember(image)
                self._evict()
                if image not in self._held:
                    return  # no room for it within the budget
            self._send(layer)

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
        self.write(b"".join(parts) + DA1)
        self._flight.append(_InFlight(size, self.clock()))
        if first and not self._paused and self._shown is not None \
                and layer is self._shown.full:
            self.started(layer)

    def _remember(self, image: KittyImage) -> None:
        if image in self._held:
            self._held.remove(image)
        self._held.append(image)

    def _need(self) -> int:
        return sum(i.low.memory + i.full.memory for i in self._held)

    def _evict(self) -> None:
        """Free images while over the budget: those that left the window first (least
        recently used first), then the furthest ahead; never the shown image or the next."""
        keep = {id(self._shown), *(id(i) for i in self._ahead[:1])}

        def distance(image: KittyImage) -> int:
            if image in self._ahead:
                return 1 + self._ahead.index(image)
            return 1000 + len(self._held) - self._held.index(image)

        for image in sorted(self._held, key=distance, reverse=True):
            if self._need() <= self.budget:
                return
            if id(image) not in keep:
                self._free(image)

    def _free(self, image: KittyImage) -> None:
        for layer in image.layers:
            if layer.started:
                self.bytes_written += len(delete(layer.image_id, free=True))
                self.write(delete(layer.image_id, free=True))
            layer.sent = 0
        self._held.remove(image)

    def _forget(self, image_id: int) -> None:
        for image in self._held:
            for layer in image.layers:
                if layer.image_id == image_id:
                    layer.sent = 0


# ---------------------------------------------------------------------------------- tmux

# kitty's row/column diacritics (rowcolumn-diacritics.txt), the first of them: enough for
# any image area (a cell's row and column are told by the marks that follow U+10EEEE)
PLACEHOLDER = "\U0010EEEE"


def _diacritics() -> list[str]:
    from textual_image.renderable.tgp import _NUMBER_TO_DIACRITIC  # the same table, 297 marks

    return [chr(c) for c in _NUMBER_TO_DIACRITIC]


def passthrough(data: bytes) -> bytes:
    """``data`` (kitty graphics commands) wrapped for tmux: each escape code in a
    ``ESC P tmux; ... ESC \\`` with its ESCs doubled (tmux needs ``allow-passthrough on``)."""
    out = []
    for m in re.finditer(rb"\x1b_G[^\x1b]*\x1b\\", data):
        out.append(b"\x1bPtmux;" + m.group(0).replace(b"\x1b", b"\x1b\x1b") + b"\x1b\\")
    return b"".join(out)


def virtual_place(image_id: int, cols: int, rows: int) -> bytes:
    """A virtual placement (``U=1``): the image shows where its placeholder cells are."""
    return command({"a": "p", "U": 1, "i": image_id, "c": cols, "r": rows, "q": 2})


def placeholder_rows(image_id: int, cols: int, rows: int) -> list[str]:
    """The text of each row of an image drawn by Unicode placeholders: U+10EEEE with the
    row's and column's diacritics and the id's top byte; the rest of the id goes in the
    foreground colour."""
    marks = _diacritics()
    if cols > len(marks) or rows > len(marks):
        raise ValueError(f"at most {len(marks)} cells a side for Unicode placeholders")
    top = marks[(image_id >> 24) & 255]
    return ["".join(PLACEHOLDER + marks[r] + marks[c] + top for c in range(cols))
            for r in range(rows)]


@dataclass(frozen=True)
class TmuxCheck:
    """Whether kitty graphics reach the terminal outside tmux as Unicode placeholders."""

    usable: bool
    why: str


def tmux_placeholders(env: dict[str, str], ask: Callable[[list[str]], str] | None = None
                      ) -> TmuxCheck:
    """Asks tmux (``ask`` runs a tmux command and returns its output) whether passthrough is
    on and which terminal the client runs in: kitty 0.28 and later and Ghostty draw Unicode
    placeholders. Replies to graphics queries do not come back through tmux, so tmux's own
    record of the client terminal (``client_termtype``, from its XTVERSION) is what tells."""
    if not env.get("TMUX"):
        return TmuxCheck(False, "not inside tmux")
    ask = ask or _ask_tmux
    target = ["-t", env["TMUX_PANE"]] if env.get("TMUX_PANE") else []
    try:
        answer = ask(["display-message", "-p", *target,
                      "#{allow-passthrough}|#{client_termtype}|#{client_termname}"])
    except (OSError, ValueError) as exc:
        return TmuxCheck(False, f"tmux did not answer ({exc})")
    passthrough_on, _, rest = answer.strip().partition("|")
    termtype, _, termname = rest.partition("|")
    if passthrough_on not in ("1", "on", "all"):
        return TmuxCheck(False, "tmux's allow-passthrough is off "
                                "(tmux set -g allow-passthrough on)")
    from tui_label.terminal.probe import draws_placeholders  # the one rule, as for XTVERSION

    outer = termtype or termname or "unknown"
    if draws_placeholders(f"{termtype} {termname}"):
        return TmuxCheck(True, f"passthrough on, the terminal is {outer}")
    return TmuxCheck(False, f"passthrough on, but the terminal outside tmux ({outer}) is not "
                            "known to draw Unicode placeholders (kitty 0.28+, Ghostty)")


def _ask_tmux(args: list[str]) -> str:
    import subprocess

    done = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=2)
    if done.returncode != 0:
        raise ValueError(done.stderr.strip() or f"exit {done.returncode}")
    return done.stdout

"""A model of a kitty terminal's image store, fed with the bytes an app writes: which images
exist, which of their rows have arrived, where they are placed, and the memory they take."""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tui_label.terminal.kitty import Command, parse_commands


def decode(command: Command) -> np.ndarray:
    """The pixels a transmit or edit command carries, as an H x W x C array."""
    keys = command.keys
    if keys.get("f") == "100":
        return np.asarray(Image.open(io.BytesIO(command.payload)).convert("RGBA"))
    data = zlib.decompress(command.payload) if keys.get("o") == "z" else command.payload
    channels = 4 if keys.get("f") == "32" else 3
    pixels = np.frombuffer(data, np.uint8).reshape(int(keys["v"]), int(keys["s"]), channels)
    if channels == 3:
        pixels = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], 2)
    return pixels


@dataclass
class Stored:
    pixels: np.ndarray  # H x W x 4
    rows: np.ndarray  # which rows were written after the canvas

    @property
    def complete(self) -> bool:
        return bool(self.rows.all())


@dataclass
class FakeKitty:
    images: dict[int, Stored] = field(default_factory=dict)
    placements: dict[int, dict[str, str]] = field(default_factory=dict)
    peak_memory: int = 0
    log: list[tuple[int, Command]] = field(default_factory=list)

    def feed(self, data: bytes, base: int = 0) -> None:
        for end, command in parse_commands(data):
            self.apply(command)
            self.log.append((base + end, command))

    def apply(self, c: Command) -> None:
        a = c.action
        if a == "t":
            pixels = decode(c).copy()
            self.images[c.image_id] = Stored(pixels, np.zeros(pixels.shape[0], bool))
            if c.keys.get("f") != "100" or pixels[..., 3].any():
                self.images[c.image_id].rows[:] = True  # a whole image, not a blank canvas
        elif a == "f":
            stored = self.images[c.image_id]
            part = decode(c)
            y, x = int(c.keys.get("y", 0)), int(c.keys.get("x", 0))
            stored.pixels[y:y + part.shape[0], x:x + part.shape[1]] = part
            stored.rows[y:y + part.shape[0]] = True
        elif a == "p":
            assert c.image_id in self.images, f"placement of unknown image {c.image_id}"
            self.placements[c.image_id] = c.keys
        elif a == "d":
            self.placements.pop(c.image_id, None)
            if c.keys.get("d") == "I":
                self.images.pop(c.image_id, None)
        self.peak_memory = max(self.peak_memory, self.memory)

    @property
    def memory(self) -> int:
        return sum(s.pixels.size for s in self.images.values())


@dataclass
class FakeLink:
    """A link of ``rate`` bytes a second and ``rtt`` seconds between an ``Uploader`` and a
    ``FakeKitty``, on a fake clock: what is written waits for the line, arrives ``rtt / 2``
    after its last byte left, and each ``CSI c`` in it is answered ``rtt / 2`` later.
    ``advance(t)`` delivers the answers due by ``t`` (``on_reply``), the clock at each."""

    rate: float
    rtt: float
    now: float = 0.0
    term: FakeKitty = field(default_factory=FakeKitty)
    on_reply: object = None  # the uploader's on_reply, set once it exists
    written: int = 0
    arrivals: list[tuple[int, float]] = field(default_factory=list)  # (end offset, arrived)
    _free: float = 0.0
    _answers: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def __call__(self, data: bytes) -> None:
        from tui_label.terminal.kitty import DA1

        self.term.feed(data, self.written)
        start = max(self.now, self._free)
        pos = 0
        while (found := data.find(DA1, pos)) >= 0:  # each answer once its query arrived
            pos = found + len(DA1)
            self._answers.append(start + pos / self.rate + self.rtt)
        self._free = start + len(data) / self.rate
        self.written += len(data)
        self.arrivals.append((self.written, self._free + self.rtt / 2))

    def advance(self, until: float) -> None:
        from tui_label.terminal.kitty import Reply

        while self._answers and min(self._answers) <= until:
            due = min(self._answers)
            self._answers.remove(due)
            self.now = max(self.now, due)
            self.on_reply(Reply(attributes=(62, 22)))  # type: ignore[operator]
        self.now = max(self.now, until)

    def arrived(self, image_id: int) -> float:
        """When the last command for ``image_id`` reached the terminal (inf: never)."""
        ends = [end for end, c in self.term.log if c.image_id == image_id]
        if not ends:
            return float("inf")
        return next(t for end, t in self.arrivals if end >= ends[-1])

"""Bytes on the wire per image, and keypress to frame delivered over a simulated SSH link
(issue 11).

    python benchmarks/wire.py                      # the full matrix, about 12 minutes
    python benchmarks/wire.py --renderers halfcell --presses 10 --sizes 80x24 --links none

The real command, ``tui-label label DIR --renderer R`` on a fresh database, runs in a
pseudo-terminal of the given size (cells of 10x20 pixels, set in the pty's window size, so
the app sizes images as a terminal with that cell size would). This script plays the terminal
at the other end of a simulated link (``benchmarks/link.py``): the app's output goes through
the link's down pipe (a rate and a one-way delay, unbounded send buffer like SSH's channel
window), keys and query replies come back through the up pipe (the same delay).

**Photos.** Camera-like JPEGs made from scikit-image's photographs (astronaut, chelsea,
coffee, rocket, motorcycle, hubble, retina, horse): upscaled to 1600-4000 pixels wide with
sensor-like noise, quality 90; a few portrait. ``pip install scikit-image`` (benchmark only).

**Terminal replies.** What the app asks at start, and what this fake terminal answers:

* textual-image's sixel probe, primary device attributes ``CSI c``: ``CSI ? 62 ; 4 ; 22 c``
  (a VT220-class terminal with sixel, attribute 4) when the renderer is sixel, else
  ``CSI ? 62 ; 22 c`` (no sixel).
* textual-image's kitty graphics probe, ``APC G ... a=q ... ST``: ``APC G i=<id> ; OK ST``
  when the renderer is kitty, else nothing (as xterm: textual-image waits 0.1 s and moves on).
* the cell size report ``CSI 16 t``: ``CSI 6 ; 20 ; 10 t`` (textual-image reads the pty's
  pixel size first, so this is rarely asked).
* Textual's synchronized-output query ``CSI ? 2026 $ p``: ``CSI ? 2026 ; 2 $ y`` (supported, as
  kitty, WezTerm, foot, iTerm2 and recent xterm-likes answer). Textual then wraps every frame
  in ``CSI ? 2026 h`` ... ``CSI ? 2026 l``, which gives this script exact frame ends.
* anything else (in-band resize ``CSI ? 2048 $ p``, kitty keyboard flags): no answer.

The renderer is forced (``--renderer``): a pty is no real kitty or sixel terminal, only its
replies are faked, and nothing is drawn.

**Frames.** A frame is one synchronized-update block. The image's frame is the first block
after the key reached the app that holds the image: for sixel a DCS sixel sequence
(``ESC P ... q``), for half-blocks at least 100 ``▀``.
Status-line and count refreshes are frames too, but hold no image, so they are never mistaken
for it. Kitty graphics (tui_label/terminal/kitty/) place images directly, outside the frames: the
image's "frame" is the placement (``APC G a=p``) of an image id never placed before, which the
app writes only once the pixels it shows (at least the half-resolution layer) precede it on
the wire. The terminal answers the uploads' ``CSI c`` (device attributes) after the link's
delay, as it answers every query here: that is what paces the pre-sending.

**Measured**, per key (class "1": label and move on):

* bytes: what the app wrote from the moment the key reached it to the end of that image's
  frame (the upload included), and, in brackets, everything it wrote until the next key.
* latency: from the key press at the terminal side (before the link's delay) to the moment
  the last byte of the image's frame is delivered at the terminal side.
* kitty: the resolution each key's image reached before the next key (``kitty_shown``): the
  widest of its layers whose last strip and placement were both delivered by then, as a share
  of the area's width in pixels, and whether that was its full layer. An image's two layers
  are paired by their ids (the low one odd, the full one the next number; issue 17: the
  old bookkeeping guessed the full layer from the next id on the wire and counted the low
  layer as the full one when the full one had not gone out).

Keys are paced open-loop (one every ``--pace`` seconds, whatever the screen shows), as a
person who knows the data labels; when the link cannot carry an image in that time the
backlog grows and so does the latency. After the last key the script waits up to
``--drain`` seconds for the frames still queued; a frame not delivered by then counts as
later than every delivered one in the percentiles ("not delivered").
"""

from __future__ import annotations

import argparse
import fcntl
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine_line, percentile  # noqa: E402
from link import Link  # noqa: E402

CELL = (10, 20)  # pixels per cell, as the pty's window size reports them
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg", "retina.jpg", "horse.png"]
LINKS = {"none": (None, 0.0), "10M": (10e6, 0.040), "2M": (2e6, 0.080)}

BSU, ESU = b"\x1b[?2026h", b"\x1b[?2026l"
SIXEL = re.compile(rb"\x1bP[0-9;]*q")
PLACEHOLDER = chr(0x10EEEE).encode()
HALF = "▀".encode()
QUERY = re.compile(rb"\x1b\[0?c|\x1b\[16t|\x1b\[\?2026\$p|\x1b_G([^\x1b]{0,200})\x1b\\")


# ---------------------------------------------------------------------------------- photos

def make_photos(root: Path, count: int) -> list[Path]:
    """``count`` camera-like JPEGs (1600-4000 px wide) under ``root``, made once."""
    done = sorted(root.glob("*.jpg"))
    if len(done) >= count:
        return done[:count]
    try:
        import skimage
    except ImportError:
        raise SystemExit("pip install scikit-image (benchmark only: its sample photographs)"
                         ) from None
    folder = Path(skimage.__file__).parent / "data"
    sources = [Image.open(folder / name).convert("RGB") for name in PHOTOS]
    rng = np.random.default_rng(11)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        photo = sources[i % len(sources)]
        width = int(rng.integers(1600, 4001))
        portrait = i % 5 == 3
        height = width * 4 // 3 if portrait else width * int(rng.choice([2, 3])) // 3
        # crop the source to the target's aspect, then upscale
        aspect = width / height
        cw = min(photo.width, int(photo.height * aspect))
        ch = int(cw / aspect)
        x = int(rng.integers(0, photo.width - cw + 1))
        y = int(rng.integers(0, photo.height - ch + 1))
        big = photo.crop((x, y, x + cw, y + ch)).resize((width, height),
                                                        Image.Resampling.BICUBIC)
        pixels = np.asarray(big, dtype=np.float32) * rng.uniform(0.85, 1.15, size=3)
        pixels += rng.normal(0, 3, size=pixels.shape).astype(np.float32)
        path = root / f"photo_{i:03d}.jpg"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------- terminal

@dataclass
class Trace:
    """Bytes with the time each chunk was read (app side) or delivered (terminal side)."""

    chunks: list[bytes] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # offset after each chunk
    times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, t: float, data: bytes) -> None:
        with self.lock:
            self.chunks.append(data)
            self.ends.append((self.ends[-1] if self.ends else 0) + len(data))
            self.times.append(t)

    def data(self) -> bytes:
        with self.lock:
            return b"".join(self.chunks)

    def time_of(self, offset: int) -> float:
        """When the byte at ``offset`` was read or delivered."""
        return self.times[bisect_left(self.ends, offset + 1)]

    def offset_at(self, t: float) -> int:
        """How many bytes had been read or delivered by time ``t``."""
        i = bisect_left(self.times, t)
        return self.ends[i - 1] if i else 0


class FakeTerminal:
    """The terminal end: records what arrives and answers the start-up queries."""

    def __init__(self, renderer: str, reply) -> None:
        self.renderer = renderer
        self.reply = reply
        self.trace = Trace()
        self.answered: list[str] = []
        self._window = b""
        self._base = 0  # absolute offset of _window[0]
        self._done_upto = 0

    def __call__(self, t: float, data: bytes) -> None:
        self.trace.add(t, data)
        window = self._window + data
        for m in QUERY.finditer(window):
            end = self._base + m.end()
            if end <= self._done_upto:
                continue
            self._done_upto = end
            self._answer(m)
        keep = window[-512:]
        self._base += len(window) - len(keep)
        self._window = keep

    def _answer(self, m: re.Match) -> None:
        query = m.group(0)
        if query.startswith(b"\x1b_G"):
            control = (m.group(1) or b"").split(b";")[0]
            keys = dict(kv.split(b"=", 1) for kv in control.split(b",") if b"=" in kv)
            if keys.get(b"a") != b"q" or self.renderer != "kitty":
                return
            answer = b"\x1b_Gi=" + keys.get(b"i", b"0") + b";OK\x1b\\"
        elif query.endswith(b"c"):
            answer = b"\x1b[?62;4;22c" if self.renderer == "sixel" else b"\x1b[?62;22c"
        elif query == b"\x1b[16t":
            answer = b"\x1b[6;%d;%dt" % (CELL[1], CELL[0])
        else:
            answer = b"\x1b[?2026;2$y"
        self.answered.append(repr(query)[2:-1] + " -> " + repr(answer)[2:-1])
        self.reply(answer)


# ---------------------------------------------------------------------------------- session

@dataclass
class Run:
    renderer: str
    size: tuple[int, int]
    link: str
    pace: float
    bytes_to_frame: list[int]
    bytes_per_key: list[int]
    latency: list[float]
    missed: int  # keys whose frame never arrived within the drain time
    startup: float
    answered: list[str]
    shown: list[Shown] = field(default_factory=list)  # kitty: the resolution each key reached

    @property
    def full_after(self) -> list[float]:
        return [s.full_after for s in self.shown]


PLACE = re.compile(rb"\x1b_Ga=p,i=(\d+)[^\x1b]*\x1b\\")


def kitty_placements(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each placement of an image id placed for the first time: with the
    kitty renderer, an image is on screen once that placement arrives (it places only
    layers whose pixels precede it: the low-resolution layer complete, the full one on top
    as it fills in). Placements are written outside Textual's frames."""
    seen: set[bytes] = set()
    found = []
    for m in PLACE.finditer(data):
        if m.group(1) not in seen:
            seen.add(m.group(1))
            if found and m.start() - found[-1][1] < 64:  # the same key's second layer
                found[-1] = (found[-1][0], m.end())
            else:
                found.append((m.start(), m.end()))
    return found


@dataclass(frozen=True)
class Shown:
    """One key's image with the kitty renderer, by the next key (widths in pixels)."""

    area: int  # the image's area: the placement's columns times the cell width
    full: int  # the image's full layer (0: its canvas never went out)
    reached: int  # the sharpest layer complete and placed before the next key (0: none)
    full_after: float  # key to the full layer complete and placed (inf: not before the next)


def kitty_layers(data: bytes) -> dict[int, tuple[int, int | None]]:
    """Each image id's canvas width and the offset where its last strip ends (None while
    rows are missing). A canvas is a PNG whose IHDR gives its size; strips are frame edits
    at row ``y``; a canvas sent again (the image was freed) starts it over."""
    from tui_label.terminal.kitty import parse_commands

    size: dict[int, tuple[int, int]] = {}
    rows: dict[int, set[int]] = {}
    done: dict[int, tuple[int, int | None]] = {}
    for end, command in parse_commands(data):
        i = command.image_id
        if command.action == "t" and command.payload[:4] == b"\x89PNG":
            size[i] = struct.unpack(">II", command.payload[16:24])
            rows[i] = set()
            done[i] = (size[i][0], None)
        elif command.action == "f" and i in rows:
            if command.keys.get("f") == "100":
                v = struct.unpack(">I", command.payload[20:24])[0]
            else:
                v = int(command.keys["v"])
            y = int(command.keys.get("y", 0))
            rows[i].update(range(y, y + v))
            if len(rows[i]) >= size[i][1] and done[i][1] is None:
                done[i] = (size[i][0], end)
    return done


PLACE_COLS = re.compile(rb"\x1b_Ga=p,i=(\d+)[^\x1b]*?c=(\d+)[^\x1b]*\x1b\\")


def kitty_shown(data: bytes, keys: list[tuple[float, int, int]], pace: float,
                delivered_at) -> list[Shown]:
    """What each key's image reached before the next key: ``keys`` is (pressed, offset of
    the app's output when the key reached it, the same for the next key) and
    ``delivered_at(offset)`` when that byte reached the terminal (inf: never).

    An image's layers are told apart by their ids (``kitty.new_ids``: the low layer odd, the
    full one the next number), never by which id was placed or which came next on the wire:
    the key may have placed only the low layer, and the full one may not have gone out yet.
    """
    layers = kitty_layers(data)
    frames = kitty_placements(data)
    found = []
    for pressed, first, nxt in keys:
        frame = next((f for f in frames if f[0] >= first), None)
        placed = [(int(m.group(1)), int(m.group(2)), m.end())
                  for m in PLACE_COLS.finditer(data, frame[0], max(nxt, frame[1]))] \
            if frame is not None and frame[0] < nxt else []
        if not placed:
            found.append(Shown(0, 0, 0, math.inf))
            continue
        low = placed[0][0] - (1 - placed[0][0] % 2)  # the odd id of the pair
        area = placed[0][1] * CELL[0]
        on_screen = {}
        for image_id, _cols, end in placed:
            if image_id in (low, low + 1) and image_id not in on_screen:
                width, done = layers.get(image_id, (0, None))
                if done is not None:
                    on_screen[image_id] = max(delivered_at(done - 1), delivered_at(end - 1))
        within = [layers[i][0] for i, t in on_screen.items() if t - pressed <= pace]
        full_after = on_screen.get(low + 1, math.inf) - pressed
        found.append(Shown(area, layers.get(low + 1, (0, None))[0], max(within, default=0),
                           full_after if full_after <= pace else math.inf))
    return found


def image_frames(data: bytes, renderer: str, cols: int, rows: int) -> list[tuple[int, int]]:
    """(start, end) offsets of the synchronized-update blocks that hold an image (kitty:
    the placements of new images)."""
    if renderer == "kitty":
        return kitty_placements(data)
    frames = []
    pos = 0
    while True:
        start = data.find(BSU, pos)
        if start < 0:
            break
        end = data.find(ESU, start)
        if end < 0:
            break
        end += len(ESU)
        block = data[start:end]
        if renderer == "sixel":
            has_image = SIXEL.search(block) is not None
        elif renderer == "kitty":
            has_image = PLACEHOLDER in block
        else:
            # nothing else on screen draws a half block; cells whose two pixels are
            # alike are spaces, so a photo with flat areas has fewer of them
            has_image = block.count(HALF) >= 100
        if has_image:
            frames.append((start, end))
        pos = end
    return frames


def run_session(photos: Path, renderer: str, size: tuple[int, int], link_name: str,
                pace: float, presses: int, drain: float, workdir: Path) -> Run:
    cols, rows = size
    rate, rtt = LINKS[link_name]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ,
                struct.pack("HHHH", rows, cols, cols * CELL[0], rows * CELL[1]))
    env = {k: v for k, v in os.environ.items()
           if k not in ("TMUX", "TERM_PROGRAM", "KITTY_WINDOW_ID", "TEXTUAL")}
    env.update(TERM="xterm-256color", COLORTERM="truecolor")
    db = workdir / f"wire-{renderer}-{cols}x{rows}-{link_name}-{pace}-{time.time_ns()}.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_label", "label", str(photos), "--classes", "keep,drop",
         "--db", str(db), "--renderer", renderer, "--no-suggestions", "--live-head", "0"],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
        close_fds=True)
    os.close(slave)
    app = Trace()
    key_arrivals: list[float] = []

    def to_app(t: float, data: bytes) -> None:
        if data == b"1":
            key_arrivals.append(t)
        try:
            os.write(master, data)
        except OSError:
            pass

    link: Link
    terminal = FakeTerminal(renderer, lambda answer: link.up.put(answer))
    link = Link(terminal, to_app, rate_bps=rate, rtt_s=rtt)

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            t = time.monotonic()
            app.add(t, data)
            link.down.put(data, at=t)

    reader = threading.Thread(target=pump, name="pty-reader", daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        # start-up: the first image's frame delivered, then a quiet second
        deadline = started + 90
        while not image_frames(terminal.trace.data(), renderer, cols, rows):
            if time.monotonic() > deadline or proc.poll() is not None:
                tail = app.data()[-400:]
                raise RuntimeError(f"{renderer} {cols}x{rows}: no first image (exit "
                                   f"{proc.poll()}); last output {tail!r}")
            time.sleep(0.05)
        startup = time.monotonic() - started
        time.sleep(1.0)
        presses_at = []
        t0 = time.monotonic()
        for i in range(presses):
            due = t0 + i * pace
            time.sleep(max(0.0, due - time.monotonic()))
            presses_at.append(time.monotonic())
            link.up.put(b"1", at=presses_at[-1])
        # drain: wait until the last key's image frame is delivered
        deadline = time.monotonic() + max(drain, pace + 2)
        while time.monotonic() < deadline:
            if len(key_arrivals) >= presses:
                first = app.offset_at(key_arrivals[presses - 1])
                frames = image_frames(terminal.trace.data(), renderer, cols, rows)
                if any(start >= first for start, _ in frames):
                    break
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        try:
            os.write(master, b"q")
        except OSError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        link.close(timeout=1)
        os.close(master)
        reader.join(2)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    app_data = app.data()
    delivered = terminal.trace
    frames = image_frames(app_data, renderer, cols, rows)
    bytes_to_frame, bytes_per_key, latency = [], [], []
    missed = 0
    arrivals = key_arrivals[:presses]
    for k, (pressed, arrived) in enumerate(zip(presses_at, arrivals, strict=False)):
        first = app.offset_at(arrived)  # bytes the app had written before the key reached it
        frame = next((f for f in frames if f[0] >= first), None)
        nxt = app.offset_at(arrivals[k + 1]) if k + 1 < len(arrivals) else len(app_data)
        if frame is None or frame[1] > delivered.ends[-1]:
            missed += 1
            continue
        bytes_to_frame.append(frame[1] - first)
        bytes_per_key.append(nxt - first)
        latency.append(delivered.time_of(frame[1] - 1) - pressed)
    missed += presses - len(arrivals)
    shown = []
    if renderer == "kitty":
        ends = [app.offset_at(a) for a in arrivals] + [len(app_data)]
        keys = [(pressed, ends[k], ends[k + 1])
                for k, pressed in enumerate(presses_at[:len(arrivals)])]
        shown = kitty_shown(app_data, keys, pace, lambda offset: delivered.time_of(offset)
                            if offset < delivered.ends[-1] else math.inf)
        shown += [Shown(0, 0, 0, math.inf)] * (presses - len(arrivals))
    return Run(renderer, size, link_name, pace, bytes_to_frame, bytes_per_key, latency, missed,
               startup, terminal.answered, shown)


# ---------------------------------------------------------------------------------- report

def resolutions(shown: list[Shown], pace: float) -> str:
    """Kitty: how many keys' images reached which resolution before the next key."""
    def share(width: int, area: int) -> str:
        return f"{round(10 * width / area) * 10}%" if area else "-"

    full_in_time = [s.full_after for s in shown if not math.isinf(s.full_after)]
    reached = Counter(share(s.reached, s.area) if s.reached else "nothing" for s in shown)
    layers = Counter(share(s.full, s.area) for s in shown if s.full)
    area = ", ".join(sorted({f"{s.area} px" for s in shown if s.area}))
    return (f"full layer complete on screen before the next key ({pace} s) for "
            f"{len(full_in_time)} of {len(shown)} keys (p50 "
            f"{ms(median(full_in_time)) if full_in_time else '-'}); full layers' width of the "
            f"area's ({area}): {dict(layers.most_common())}; sharpest on screen before the "
            f"next key: {dict(reached.most_common())}")


def kb(n: float) -> str:
    if n < 10_000:
        return f"{n:,.0f} B"
    return f"{n / 1000:,.0f} KB" if n < 1e6 else f"{n / 1e6:.2f} MB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def report(runs: list[Run]) -> None:
    print("\n### Bytes per image (median over the keys)\n")
    print("| renderer | size | to the image's frame end | until the next key | keys |")
    print("|---|---|---|---|---|")
    seen = set()
    for r in runs:
        key = (r.renderer, r.size)
        if key in seen or not r.bytes_to_frame:
            continue
        seen.add(key)
        print(f"| {r.renderer} | {r.size[0]}x{r.size[1]} | {kb(median(r.bytes_to_frame))} | "
              f"{kb(median(r.bytes_per_key))} | {len(r.bytes_to_frame)} |")
    print("\n### Keypress to the image's frame delivered\n")
    print("| renderer | size | link | one key every | p50 | p95 | max | keys | frames missing |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        link = {"none": "none (pty only)", "10M": "10 Mbit/s, 40 ms RTT",
                "2M": "2 Mbit/s, 80 ms RTT"}[r.link]
        lat = r.latency + [math.inf] * r.missed  # a frame never delivered: later than any

        def show(seconds: float) -> str:
            return "not delivered" if math.isinf(seconds) else ms(seconds)

        print(f"| {r.renderer} | {r.size[0]}x{r.size[1]} | {link} | {r.pace} s | "
              f"{show(percentile(lat, 50))} | {show(percentile(lat, 95))} | "
              f"{show(max(lat))} | {len(r.latency)} | {r.missed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renderers", default="halfcell,sixel,kitty")
    parser.add_argument("--sizes", default="80x24,160x48,240x67",
                        help="pty sizes for the bytes runs (no link)")
    parser.add_argument("--links", default="10M:1.5,10M:0.5,2M:1.5,2M:0.5",
                        help="LINK:PACE runs at --link-size (LINK: none, 10M, 2M)")
    parser.add_argument("--link-size", default="160x48")
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--size-presses", type=int, default=12,
                        help="keys per bytes run (one a second, no link)")
    parser.add_argument("--drain", type=float, default=60.0,
                        help="seconds to wait after the last key for queued frames")
    parser.add_argument("--photos", type=Path, default=Path(tempfile.gettempdir())
                        / "tui-label-wire-photos")
    args = parser.parse_args()

    print(machine_line())
    make_photos(args.photos, args.presses + 10)
    renderers = args.renderers.split(",")
    link_size = tuple(int(v) for v in args.link_size.split("x"))
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plan = []
        for size_text in filter(None, args.sizes.split(",")):
            size = tuple(int(v) for v in size_text.split("x"))
            if size == link_size and args.links:
                continue  # the 10M runs at this size count the bytes too
            plan += [(r, size, "none", 1.0, args.size_presses) for r in renderers]
        for spec in filter(None, args.links.split(",")):
            name, pace = spec.split(":")
            plan += [(r, link_size, name, float(pace), args.presses) for r in renderers]
        for renderer, size, link, pace, presses in plan:
            t = time.monotonic()
            run = run_session(args.photos, renderer, size, link, pace, presses, args.drain,
                              work)
            runs.append(run)
            lat = run.latency
            print(f"{renderer:8} {size[0]}x{size[1]} link {link:4} pace {pace}: "
                  f"{kb(median(run.bytes_to_frame)) if run.bytes_to_frame else '-'} per image, "
                  f"p50 {ms(percentile(lat, 50)) if lat else '-'}, "
                  f"p95 {ms(percentile(lat, 95)) if lat else '-'}, missed {run.missed}, "
                  f"start-up {run.startup:.1f} s, run {time.monotonic() - t:.0f} s", flush=True)
            if run.shown:
                print(f"         bytes from key to image: p95 "
                      f"{kb(percentile(run.bytes_to_frame, 95))}, max "
                      f"{kb(max(run.bytes_to_frame))}; {resolutions(run.shown, pace)}",
                      flush=True)
    for renderer in renderers:
        answered = next((r.answered for r in runs if r.renderer == renderer), [])
        print(f"\nTerminal replies ({renderer}):", "; ".join(answered))
    report(sorted(runs, key=lambda r: (r.size != link_size, r.size, r.renderer)))


if __name__ == "__main__":
    main()

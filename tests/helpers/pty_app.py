"""The real ``tui-label`` command in a pseudo-terminal, with this test as the terminal.

The fake terminal answers the start-up queries the way a chosen terminal would (or not at all),
records every byte the app writes, and types keys. Used to assert on the bytes on the wire.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

BSU, ESU = b"\x1b[?2026h", b"\x1b[?2026l"
SIXEL = re.compile(rb'\x1bP[0-9;]*q"1;1;(\d+);(\d+)(.*?)\x1b\\', re.S)
HALF = "▀".encode()
_QUERY = re.compile(rb"\x1b\[0?c|\x1b\[16t|\x1b\[>0?q|\x1b\[\?2026\$p|\x1b\[\?2;1;0S|"
                    rb"\x1b_G([^\x1b]{0,200})\x1b\\")


LIVE: list[PtyApp] = []  # started and not closed: ``kill_leftovers`` ends them after a test


def kill_leftovers() -> None:
    """Kill the apps a test left running (it failed before ``close``): in a pty of its own
    session, a labeler gets no hangup when the test goes, and would run on."""
    while LIVE:
        app = LIVE.pop()
        if app.proc.poll() is None:
            os.killpg(app.proc.pid, signal.SIGKILL)
            app.proc.wait()
        try:
            os.close(app.master)
        except OSError:
            pass


class PtyApp:
    """``python -m tui_label ARGS`` in a pty of ``size`` cells of ``cell`` pixels.

    ``terminal``: "sixel" (device attributes with 4), "plain" (no graphics), "kitty"
    (answers the kitty graphics query with OK; ``xtversion`` for its XTVERSION answer), or
    "silent" (answers nothing at all). ``delay``: seconds before each answer is written
    (a slow link). ``sixel_max``: the largest sixel image, told when asked (xterm: 1000x1000).
    """

    def __init__(self, args: list[str], *, size: tuple[int, int] = (100, 30),
                 cell: tuple[int, int] = (10, 20), terminal: str = "plain",
                 xtversion: str | None = None, env: dict[str, str] | None = None,
                 delay: float = 0.0, sixel_max: tuple[int, int] | None = None) -> None:
        self.terminal, self.xtversion, self.delay = terminal, xtversion, delay
        self.sixel_max = sixel_max
        self.data = bytearray()
        self.lock = threading.Lock()
        self.started = time.monotonic()
        cols, rows = size
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, cols * cell[0], rows * cell[1]))
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("TMUX", "TERM_PROGRAM", "KITTY_WINDOW_ID", "TEXTUAL")}
        full_env.update(TERM="xterm-256color", COLORTERM="truecolor", **(env or {}))
        self.proc = subprocess.Popen([sys.executable, "-m", "tui_label", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=full_env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self.master = master
        LIVE.append(self)
        self._answered_upto = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk
                window = bytes(self.data[max(0, self._answered_upto - 256):])
                base = max(0, self._answered_upto - 256)
            for m in _QUERY.finditer(window):
                if base + m.end() <= self._answered_upto:
                    continue
                self._answered_upto = base + m.end()
                answer = self._answer(m)
                if answer and self.delay:
                    threading.Timer(self.delay, self.write, (answer,)).start()
                elif answer:
                    self.write(answer)

    def _answer(self, m: re.Match) -> bytes | None:
        if self.terminal == "silent":
            return None
        query = m.group(0)
        if query.startswith(b"\x1b_G"):
            keys = dict(kv.split(b"=", 1) for kv in (m.group(1) or b"").split(b";")[0]
                        .split(b",") if b"=" in kv)
            if self.terminal == "kitty" and keys.get(b"a") == b"q":
                return b"\x1b_Gi=" + keys.get(b"i", b"0") + b";OK\x1b\\"
            return None
        if query.endswith(b"c"):
            return b"\x1b[?62;4;22c" if self.terminal == "sixel" else b"\x1b[?62;22c"
        if query == b"\x1b[16t":
            return b"\x1b[6;20;10t"
        if query.endswith(b"S"):  # XTSMGRAPHICS: the largest sixel image
            return f"\x1b[?2;0;{self.sixel_max[0]};{self.sixel_max[1]}S".encode() \
                if self.sixel_max and self.terminal == "sixel" else None
        if query.endswith(b"q"):  # XTVERSION
            return f"\x1bP>|{self.xtversion}\x1b\\".encode() if self.xtversion else None
        return b"\x1b[?2026;2$y"

    def write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def output(self) -> bytes:
        with self.lock:
            return bytes(self.data)

    def wait_for(self, predicate, timeout: float = 60.0) -> bool:
        """Poll ``predicate(output)`` until true, the app exits, or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.output()):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.2)
                return predicate(self.output())
            time.sleep(0.05)
        return False

    def close(self) -> int:
        """Quit with q (killed after 15 s); the exit code."""
        self.write(b"q")
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self.reader.join(2)
        os.close(self.master)
        if self in LIVE:
            LIVE.remove(self)
        return code


def sixels(data: bytes) -> list[tuple[int, int, bytes]]:
    """Every sixel image in ``data``: (width, height, the whole DCS sequence)."""
    return [(int(m.group(1)), int(m.group(2)), m.group(0)) for m in SIXEL.finditer(data)]


def frames(data: bytes) -> list[bytes]:
    """The synchronized-update blocks (one a frame)."""
    found, pos = [], 0
    while (start := data.find(BSU, pos)) >= 0 and (end := data.find(ESU, start)) >= 0:
        found.append(data[start:end + len(ESU)])
        pos = end + len(ESU)
    return found


def make_photos(root: Path, sizes: list[tuple[int, int]], seed: int = 0) -> None:
    """Photo-like PNGs (smooth gradients, shapes and sensor noise) of the given sizes."""
    import numpy as np
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, (w, h) in enumerate(sizes):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([x / w * 200 + 30, y / h * 180 + 40,
                         (np.sin(x / 37.0 + i) + np.cos(y / 23.0)) * 60 + 120], axis=-1)
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        disc = ((x - cx) ** 2 + (y - cy) ** 2) < (min(w, h) / 4) ** 2
        base[disc] = rng.uniform(20, 235, size=3)
        base += rng.normal(0, 4, size=base.shape)
        Image.fromarray(base.clip(0, 255).astype(np.uint8)).save(root / f"photo{i:02d}.png")

"""A simulated network link for the wire benchmark: a rate and a one-way delay per direction.

``Pipe`` carries bytes one way, first in first out, like one direction of an SSH connection:
bytes wait in an unbounded send buffer (SSH's channel window and the socket buffers, which
are megabytes deep) for the line, leave it at ``rate_bps``, and arrive ``delay_s`` later.
A rate of None is an infinitely fast line with only the delay (the key direction: a few bytes).

``Link`` is two pipes: the app's output towards the terminal (rate and delay) and the
terminal's bytes (keys, replies to queries) towards the app (the same delay).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

PIECE = 4096  # delivery granularity: the last byte of a frame is timed to within one piece

Sink = Callable[[float, bytes], None]


class Pipe:
    """Delivers what is ``put`` to ``sink(arrival_time, data)`` after the line's delay.

    Times are ``time.monotonic()``. A chunk put at ``t`` starts onto the line when the line is
    free (``max(t, end of the previous chunk)``), takes ``len * 8 / rate`` seconds and arrives
    ``delay_s`` after its last byte left. Big chunks are cut into pieces of ``PIECE`` bytes, each
    delivered when its own last byte arrives.
    """

    def __init__(self, sink: Sink, *, rate_bps: float | None, delay_s: float,
                 name: str = "pipe") -> None:
        if rate_bps is not None and rate_bps <= 0:
            raise ValueError("rate_bps must be positive (or None for no limit)")
        if delay_s < 0:
            raise ValueError("delay_s must not be negative")
        self.rate_bps = rate_bps
        self.delay_s = delay_s
        self._sink = sink
        self._queue: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
        self._line_free = 0.0
        self.bytes_put = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, data: bytes, at: float | None = None) -> None:
        """Hand ``data`` to the line, now (or at the monotonic time ``at`` it was produced)."""
        if data:
            self.bytes_put += len(data)
            self._queue.put((time.monotonic() if at is None else at, bytes(data)))

    def close(self, timeout: float | None = None) -> None:
        """Stop after delivering everything already put (waits up to ``timeout``)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            t_put, data = item
            start = max(t_put, self._line_free)
            for offset in range(0, len(data), PIECE):
                piece = data[offset:offset + PIECE]
                if self.rate_bps is not None:
                    start += len(piece) * 8 / self.rate_bps
                due = start + self.delay_s
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self._sink(due, piece)
            self._line_free = start


class Link:
    """Both directions: ``down`` (app to terminal, rate-limited) and ``up`` (terminal to app)."""

    def __init__(self, to_terminal: Sink, to_app: Sink, *, rate_bps: float | None,
                 rtt_s: float) -> None:
        self.down = Pipe(to_terminal, rate_bps=rate_bps, delay_s=rtt_s / 2, name="link-down")
        self.up = Pipe(to_app, rate_bps=None, delay_s=rtt_s / 2, name="link-up")

    def close(self, timeout: float | None = None) -> None:
        self.down.close(timeout)
        self.up.close(timeout)

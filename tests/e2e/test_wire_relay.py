"""The wire benchmark's link simulator (benchmarks/link.py): never faster than its rate and delay.

Only lower bounds: a busy machine may deliver later, never sooner.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from link import PIECE, Link, Pipe  # noqa: E402

EPS = 1e-6  # float rounding in the sums, not timing slack


class Recorder:
    def __init__(self) -> None:
        self.items: list[tuple[float, float, bytes]] = []  # (wall time, modelled time, data)
        self.done = threading.Event()
        self.expect = 0

    def __call__(self, due: float, data: bytes) -> None:
        self.items.append((time.monotonic(), due, data))
        if sum(len(d) for _, _, d in self.items) >= self.expect:
            self.done.set()


def test_pipe_delivers_no_sooner_than_rate_and_delay():
    rate, delay, n = 800_000, 0.05, 20_000  # 20 kB at 800 kbit/s: 0.2 s on the line
    sink = Recorder()
    sink.expect = n
    pipe = Pipe(sink, rate_bps=rate, delay_s=delay)
    data = bytes(range(256)) * (n // 256) + bytes(n % 256)
    t0 = time.monotonic()
    pipe.put(data, at=t0)
    assert sink.done.wait(10)
    pipe.close(5)
    assert b"".join(d for _, _, d in sink.items) == data  # all of it, in order
    last_wall, last_due, _ = sink.items[-1]
    assert last_due >= t0 + n * 8 / rate + delay - EPS
    assert last_wall >= t0 + n * 8 / rate + delay - EPS
    # each piece no sooner than the bytes up to its end allow
    sent = 0
    for wall, _, piece in sink.items:
        assert len(piece) <= PIECE
        sent += len(piece)
        assert wall >= t0 + sent * 8 / rate + delay - EPS


def test_pipe_queues_behind_earlier_bytes():
    rate, delay = 400_000, 0.02
    sink = Recorder()
    sink.expect = 10_001
    pipe = Pipe(sink, rate_bps=rate, delay_s=delay)
    t0 = time.monotonic()
    pipe.put(b"x" * 10_000, at=t0)  # 0.2 s of line time
    pipe.put(b"k", at=t0)  # a byte written just after: waits for the line
    assert sink.done.wait(10)
    pipe.close(5)
    wall, _, data = sink.items[-1]
    assert data.endswith(b"k")
    assert wall >= t0 + 10_001 * 8 / rate + delay - EPS


def test_link_delays_keys_by_half_the_round_trip():
    down, up = Recorder(), Recorder()
    down.expect = up.expect = 1
    link = Link(down, up, rate_bps=10_000_000, rtt_s=0.08)
    t0 = time.monotonic()
    link.up.put(b"1", at=t0)
    link.down.put(b"frame", at=t0)
    assert up.done.wait(5) and down.done.wait(5)
    link.close(5)
    assert up.items[0][2] == b"1"
    assert up.items[0][0] >= t0 + 0.04 - EPS
    assert down.items[0][0] >= t0 + 0.04 + 5 * 8 / 10_000_000 - EPS


def test_pipe_rejects_nonsense():
    with pytest.raises(ValueError):
        Pipe(lambda t, d: None, rate_bps=0, delay_s=0.01)
    with pytest.raises(ValueError):
        Pipe(lambda t, d: None, rate_bps=None, delay_s=-1)

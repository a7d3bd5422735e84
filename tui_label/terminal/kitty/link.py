"""The link to the terminal as the pre-sender measures it: round trip and rate, from the
answers to the ``CSI c`` that follows each piece (issue 11). No textual."""

from __future__ import annotations

from dataclasses import dataclass


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

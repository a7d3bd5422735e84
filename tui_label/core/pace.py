"""Labeling pace over active time: the one rule the status line and ``tui-label stats`` share.

Active time is the sum of the gaps between consecutive events (labels, skips, undos) that are
at most ``IDLE_GAP_SECONDS`` long; a longer gap is a break (lunch, watching a training run,
reading the statistics) and counts nothing. A pace is a count over active minutes, and there
is none under ``MIN_ACTIVE_SECONDS`` of active time (two keys a second apart are no pace).

Pure: no numpy, no clock of its own (the caller gives the times, in seconds).
"""

from __future__ import annotations

from collections.abc import Iterable

IDLE_GAP_SECONDS = 60.0
MIN_ACTIVE_SECONDS = 30.0


class ActiveTime:
    """Active seconds, summed as events come (in time order): ``note`` each event's time."""

    def __init__(self, idle_gap: float = IDLE_GAP_SECONDS) -> None:
        self.idle_gap = idle_gap
        self.seconds = 0.0
        self.last: float | None = None

    def note(self, when: float) -> None:
        """Count the gap since the last event when it is no break (nor negative)."""
        if self.last is not None and 0 <= when - self.last <= self.idle_gap:
            self.seconds += when - self.last
        self.last = when if self.last is None else max(self.last, when)

    def per_minute(self, count: int) -> float | None:
        """``count`` over the active minutes so far (``per_minute``)."""
        return per_minute(count, self.seconds)


def active_seconds(times: Iterable[float], idle_gap: float = IDLE_GAP_SECONDS) -> float:
    """The active seconds of events at ``times`` (in any order)."""
    clock = ActiveTime(idle_gap)
    for when in sorted(times):
        clock.note(when)
    return clock.seconds


def per_minute(count: int, active: float,
               min_active: float = MIN_ACTIVE_SECONDS) -> float | None:
    """``count`` per active minute, or None under ``min_active`` seconds of active time."""
    return count / (active / 60) if active >= min_active else None

"""The pace rule (``core/pace.py``): active time sums the gaps up to the idle gap."""

from __future__ import annotations

import pytest

from tui_label.core.pace import IDLE_GAP_SECONDS, ActiveTime, active_seconds, per_minute


def test_a_gap_longer_than_the_idle_gap_is_a_break():
    g = IDLE_GAP_SECONDS
    assert active_seconds([0, g, 2 * g + 1, 2 * g + 2]) == pytest.approx(g + 1)
    assert active_seconds([5]) == 0 and active_seconds([]) == 0
    assert active_seconds([30, 0, 10]) == pytest.approx(30)  # order does not matter


def test_the_running_clock_sums_as_the_list_does():
    times = [0, 0.6, 1.2, 400, 400.5, 401, 7600, 7601.5]
    clock = ActiveTime()
    for t in times:
        clock.note(t)
    assert clock.seconds == pytest.approx(active_seconds(times)) == pytest.approx(3.7)


def test_no_pace_under_the_minimum_of_active_time():
    assert per_minute(5, 29.9) is None
    assert per_minute(50, 30) == pytest.approx(100)

"""ISO times read the same on Python 3.10 as on 3.11+ (a CI failure under 3.10: ``Z`` and
one-digit fractions were refused there)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tui_label.core.times import parse_iso, parse_utc


@pytest.mark.parametrize("text, expected", [
    ("2024-01-01T00:00:00.000Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
    ("2024-03-01T10:20:30.5+02:00",
     datetime(2024, 3, 1, 10, 20, 30, 500000, tzinfo=timezone(timedelta(hours=2)))),
    ("2024-03-01T10:20:30.1234567z",
     datetime(2024, 3, 1, 10, 20, 30, 123456, tzinfo=timezone.utc)),
    ("2024-03-01 10:20", datetime(2024, 3, 1, 10, 20)),
])
def test_times_people_write(text, expected):
    assert parse_iso(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", None, "Z"])
def test_not_times(text):
    assert parse_iso(text) is None


@pytest.mark.parametrize("text, expected", [
    ("2024-03-01 10:20", datetime(2024, 3, 1, 10, 20, tzinfo=timezone.utc)),  # naive is UTC
    ("2024-03-01T12:20:30.5+02:00", datetime(2024, 3, 1, 10, 20, 30, 500000, tzinfo=timezone.utc)),
    ("2024-01-01T00:00:00.000Z", datetime(2024, 1, 1, tzinfo=timezone.utc)),
])
def test_times_in_utc(text, expected):
    when = parse_utc(text)
    assert when == expected and when.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", None])
def test_not_times_in_utc(text):
    assert parse_utc(text) is None

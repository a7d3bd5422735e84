"""ISO 8601 times as people's files write them, read the same on every Python we support.

``datetime.fromisoformat`` before Python 3.11 refuses a ``Z`` suffix and fractions of other
than 3 or 6 digits (``10:20:30.5``), which exports and other tools write.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

_FRACTION = re.compile(r"(\d{2}:\d{2}:\d{2})\.(\d+)")


def parse_iso(text: str) -> datetime | None:
    """The time ``text`` names (naive when it has no zone), or None when it is not one."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: f"{m.group(1)}.{(m.group(2) + '000000')[:6]}", text, count=1)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_utc(text: str) -> datetime | None:
    """The time ``text`` names, in UTC (a time without a zone is taken as UTC), or None when it
    is not one."""
    when = parse_iso(text)
    if when is None:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def now_iso() -> str:
    """Now in UTC, to the millisecond, as the database stores times (``...T10:20:30.123Z``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""One row of an import source as read: a path inside the dataset, a label (or, multi-label, a
set of class names), who and when; or why the row cannot be parsed. Paths and times are
normalized here, as the store keeps them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from tui_label.core.times import parse_utc
from tui_label.errors import UsageError

SET_SEPARATOR = ";"  # between the class names of a set in a CSV cell (multi-label)
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_STORE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


@dataclass(frozen=True, slots=True)
class Row:
    """One labeled image as the source gives it."""

    where: str  # "line 7", or the file under an ImageFolder
    path: str  # relative to the dataset root, '/' separated, normalized
    label: str | None  # None or "": no label (a skipped image in a tui-label export)
    annotator: str | None = None
    labeled_at: str | None = None  # normalized to UTC, as the store writes times
    fallback_name: str | None = None  # ImageFolder: match this file name when path is unknown
    labels: frozenset[str] | None = None  # multi-label: the set of class names (label None)

    def names(self) -> frozenset[str] | None:
        """The row's classes as a set (a single label as a set of one); None: no label."""
        if self.labels is not None:
            return self.labels
        return None if self.label is None else frozenset((self.label,))


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be parsed."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"



def normalize_path(text: str) -> str | None:
    """``text`` as a dataset path (``a/./b//c`` → ``a/b/c``); None when it lies outside the
    dataset root (absolute, or ``..`` above it)."""
    if text.startswith(("/", "\\")) or _DRIVE.match(text):
        return None
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)




def normalize_time(text: str) -> str | None:
    """An ISO 8601 time as the store writes it (UTC, milliseconds, ``Z``); a time without a
    zone is taken as UTC. None when it is not one."""
    if _STORE_TIME.match(text):  # already as the store writes it (a tui-label export)
        try:
            datetime.fromisoformat(text[:-1])  # a real date and time (no 2024-13-45)
            return text
        except ValueError:
            return None
    when = parse_utc(text)
    if when is None:
        return None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_row(where: str, path, label, annotator=None, labeled_at=None, *,
         sets: bool = False) -> Row | BadRow:
    """A parsed row checked: a path and at most one label (with ``sets``, a list of them, or
    one), a time that is a time.

    Raises:
        UsageError: the path lies outside the dataset root.
    """
    if not isinstance(path, str) or not path:
        return BadRow(where, "no path")
    labels = None
    if isinstance(label, list):
        if not sets:
            return BadRow(where, "a list of labels, but this database is single-label (import "
                                 "--multi-label switches it to multi-label mode)")
        labels = _label_set(label)
        if isinstance(labels, str):
            return BadRow(where, labels)
        label = None
    elif sets and isinstance(label, str) and label.strip():
        labels, label = frozenset((label.strip(),)), None
    if label is not None and not isinstance(label, str):
        return BadRow(where, f"the label must be text, not {json.dumps(label)}")
    if annotator is not None and not isinstance(annotator, str):
        return BadRow(where, "the annotator must be text")
    normalized = normalize_path(path)
    if normalized is None:
        raise UsageError(f"{where}: path {path!r} lies outside the dataset root (absolute, or "
                         "'..' above it): nothing imported")
    if not normalized:
        return BadRow(where, f"path {path!r} names no file")
    when = None
    if labeled_at not in (None, ""):
        when = normalize_time(labeled_at) if isinstance(labeled_at, str) else None
        if when is None:
            return BadRow(where, f"labeled_at {labeled_at!r} is not an ISO 8601 time")
    label = label.strip() if label else None
    return Row(where, normalized, label or None, annotator or None, when, labels=labels)


def _label_set(names: list) -> frozenset[str] | str:
    """A list of class names as a set, or why it is not one."""
    if all(type(name) is str and name and not name[0].isspace() and not name[-1].isspace()
           for name in names):
        return frozenset(names)  # the usual case, as tui-label exports it
    found = set()
    for name in names:
        if not isinstance(name, str):
            return f"the labels must be text, not {json.dumps(name)}"
        if not name.strip():
            return f"an empty class name in the labels {json.dumps(names)[:200]}"
        found.add(name.strip())
    return frozenset(found)


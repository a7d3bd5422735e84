"""The value types the store hands out and the rest of the program passes around.

Pure: no SQL, no textual, no torch. A widget imports these without pulling in sqlite-utils.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import NamedTuple


class QueueItem(NamedTuple):  # a tuple: a queue of a million builds fast
    id: int
    path: str


class QueueRow(NamedTuple):
    """One image and its current state, as the store hands it to an order (path order)."""

    id: int
    path: str
    action: str | None  # the latest event's action: 'label', 'skip', 'clear', or None
    class_id: int | str | None  # its class, or a multi-label set as JSON (``[1,3]``)


@dataclass(frozen=True)
class ImageState:
    """An image's current state: the latest event's action and its classes.

    A set of class ids, so a multi-label mode needs no new type; in single-label mode it holds
    one id for ``label`` and none otherwise. ``clear`` is an image with no label (never
    touched, or its label undone).
    """

    action: str = "clear"  # label | skip | clear
    classes: frozenset[int] = frozenset()

    @classmethod
    def of(cls, action: str | None, class_id: int | None = None,
           classes: str | None = None) -> ImageState:
        """From an event's ``action``, ``class_id`` and ``classes`` (the JSON set of a
        multi-label event)."""
        if classes is not None:
            return cls(action or "clear", frozenset(json.loads(classes)))
        return cls(action or "clear", frozenset() if class_id is None else frozenset({class_id}))

    @property
    def class_id(self) -> int | None:
        """The class in single-label mode (None unless labeled)."""
        return next(iter(self.classes)) if len(self.classes) == 1 else None

    @property
    def labeled(self) -> bool:
        return self.action == "label"

    @property
    def skipped(self) -> bool:
        return self.action == "skip"


UNLABELED = ImageState()


@dataclass(frozen=True)
class SyncResult:
    """What an incremental rescan changed."""

    added: int
    changed: int
    missing: int
    returned: int
    total: int
    changed_ids: frozenset[int] = frozenset()  # images whose file changed: decode them again


@dataclass
class Counts:
    """Image counts for the status line and legend (missing images excluded)."""

    total: int = 0
    labeled: int = 0
    skipped: int = 0
    per_class: dict[int, int] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return self.total - self.labeled - self.skipped


@dataclass(frozen=True)
class ClassRow:
    id: int
    name: str
    hotkey: str | None
    position: int


@dataclass(frozen=True)
class UndoResult:
    image_id: int
    event_id: int
    before: ImageState  # the image's state just before the undo
    after: ImageState  # the state it restored


@dataclass(frozen=True)
class TrainingItem:
    image_id: int
    path: str
    class_id: int | None  # None for a set of classes (multi-label mode)
    classes: frozenset[int] = frozenset()  # the image's classes (one for a single label)

    @property
    def split_key(self) -> int:
        """What splits are stratified by: the class, or for a set its first class id (-1 for
        the empty set)."""
        if self.class_id is not None:
            return self.class_id
        return min(self.classes, default=-1)

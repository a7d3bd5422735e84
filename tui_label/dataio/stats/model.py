"""What the statistics are: the result's types (``Stats`` and its parts) and ``Event``, one row
of the event log as the statistics read it. No numpy, no rich."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from tui_label.core.pace import IDLE_GAP_SECONDS


@dataclass(frozen=True)
class ClassStat:
    name: str
    hotkey: str | None
    count: int
    share: float  # of the current labels (0 when there are none)


@dataclass(frozen=True)
class AnnotatorStat:
    annotator: str
    labels: int
    skips: int
    undos: int
    undo_rate: float | None  # undos / (labels + skips + reviews)
    accepted: int  # suggestions accepted
    reviews: int
    active_seconds: float
    labels_per_minute: float | None
    median_seconds_on_screen: float | None
    first: str | None  # the first and last event's time
    last: str | None


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    images: int  # rated by both
    observed: float  # share of those images with the same class
    kappa: float | None  # Cohen's
    confusion: list[list[int]]  # rows: a's class, columns: b's class (Agreement.classes)


@dataclass(frozen=True)
class ClassAgreement:
    """Multi-label: agreement on one class, each rating saying "has it" or "not"."""

    name: str
    images: int  # of the images with two or more raters, those with the class in a rating
    fleiss_kappa: float | None
    observed: float | None
    pairs: list[PairAgreement]  # confusion [[neither, only b], [only a, both]]


@dataclass(frozen=True)
class Agreement:
    classes: list[str]  # the axes of the confusion matrices
    images: int  # rated by two or more annotators
    raters: dict[int, int]  # number of raters -> number of images
    fleiss_kappa: float | None
    observed: float | None  # Fleiss' mean per-image agreement
    pairs: list[PairAgreement]
    confusion: list[list[int]]  # pooled over every pair of ratings of an image, symmetric
    multi_label: bool = False  # kappas over exact sets; confusions empty; per_class below
    per_class: list[ClassAgreement] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    images: int
    labeled: int
    skipped: int
    remaining: int
    unreadable: int
    missing: int
    classes: list[ClassStat]
    annotators: list[AnnotatorStat]
    agreement: Agreement
    idle_gap_seconds: float = IDLE_GAP_SECONDS
    multi_label: bool = False  # shares: of labeled images holding the class (sets)
    definitions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict (``None`` for undefined values, never NaN)."""
        return asdict(self)


class Event(NamedTuple):
    """One row of the event log, as the statistics read it (a tuple: a million build fast)."""

    id: int
    image_id: int
    action: str  # label | skip | clear
    class_id: int | None
    annotator: str
    created_at: str
    ms_on_screen: int | None = None
    undo_of: int | None = None
    source: str | None = None
    classes: str | None = None  # a multi-label event's set of class ids, as JSON

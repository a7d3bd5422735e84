"""Every statistic of a store: counts per class, each annotator's pace, undos and skips, and
the agreement between annotators. Reads only; numpy, no rich."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tui_label.core.pace import MIN_ACTIVE_SECONDS, active_seconds, per_minute
from tui_label.core.times import parse_utc
from tui_label.dataio.stats.agreement import agreement, ratings, set_agreement
from tui_label.dataio.stats.model import (
    IDLE_GAP_SECONDS,
    AnnotatorStat,
    ClassStat,
    Event,
    Stats,
)

__all__ = ["DEFINITIONS", "MIN_ACTIVE_SECONDS", "MULTI_LABEL_DEFINITIONS", "active_seconds",
           "annotator_stats", "compute", "parse_time"]


# -- per annotator --------------------------------------------------------------------------


def parse_time(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (``Z`` or an offset; naive is UTC), or None
    when it cannot be read (an imported file's odd format must not break the statistics)."""
    when = parse_utc(text)
    return None if when is None else when.timestamp()


def annotator_stats(events: Iterable[Event],
                    idle_gap: float = IDLE_GAP_SECONDS) -> list[AnnotatorStat]:
    """One row per annotator, most labels first. The pace is the status line's
    (``tui_label.core.pace``): labels typed over active time; imported labels (source
    ``import``, written at once by ``tui-label import``) are labels but no keys, and count
    neither in the pace nor in its active time."""
    acc: dict[str, dict] = {}
    for e in events:
        a = acc.get(e.annotator)
        if a is None:
            a = acc[e.annotator] = {"labels": 0, "skips": 0, "undos": 0, "accepted": 0,
                                    "reviews": 0, "keyed": 0, "times": [], "screen": [],
                                    "first": None, "last": None}
        when = parse_time(e.created_at)
        if when is not None:
            if e.source != "import":
                a["times"].append(when)
            if a["first"] is None or when < a["first"][0]:
                a["first"] = (when, e.created_at)
            if a["last"] is None or when >= a["last"][0]:
                a["last"] = (when, e.created_at)
        if e.undo_of is not None:
            a["undos"] += 1
            continue
        if e.source == "review":
            a["reviews"] += 1
        elif e.action == "label":
            a["labels"] += 1
            a["keyed"] += e.source != "import"
            if e.source == "suggestion":
                a["accepted"] += 1
        elif e.action == "skip":
            a["skips"] += 1
        else:
            continue  # a clear that is not an undo (none are written today)
        if e.ms_on_screen is not None and e.ms_on_screen >= 0:
            a["screen"].append(e.ms_on_screen / 1000)
    rows = []
    for name, a in acc.items():
        active = active_seconds(a["times"], idle_gap)
        actions = a["labels"] + a["skips"] + a["reviews"]
        rows.append(AnnotatorStat(
            annotator=name, labels=a["labels"], skips=a["skips"], undos=a["undos"],
            undo_rate=a["undos"] / actions if actions else None,
            accepted=a["accepted"], reviews=a["reviews"], active_seconds=round(active, 3),
            labels_per_minute=per_minute(a["keyed"], active),
            median_seconds_on_screen=float(np.median(a["screen"])) if a["screen"] else None,
            first=a["first"][1] if a["first"] else None,
            last=a["last"][1] if a["last"] else None))
    rows.sort(key=lambda r: (-r.labels, r.annotator))
    return rows


# -- from the store -------------------------------------------------------------------------


def compute(store, idle_gap: float = IDLE_GAP_SECONDS) -> Stats:
    """Every statistic of ``store`` (a ``tui_label.store.Store``); reads only."""
    counts = store.counts()
    status = store.image_status_counts()
    classes = store.classes()
    labeled = counts.labeled
    class_rows = [ClassStat(c.name, c.hotkey, counts.per_class.get(c.id, 0),
                            counts.per_class.get(c.id, 0) / labeled if labeled else 0.0)
                  for c in classes]
    events = list(map(Event._make, store.stats_events()))
    sets = store.multi_label or store.has_class_sets()
    ids, names = [c.id for c in classes], [c.name for c in classes]
    agreed = (set_agreement(ratings(events, sets=True), ids, names) if sets
              else agreement(ratings(events), ids, names))
    return Stats(
        images=counts.total, labeled=labeled, skipped=counts.skipped,
        remaining=counts.remaining, unreadable=status.get("unreadable", 0),
        missing=status.get("missing", 0), classes=class_rows,
        annotators=annotator_stats(events, idle_gap), agreement=agreed,
        idle_gap_seconds=idle_gap, multi_label=sets,
        definitions={**DEFINITIONS, **MULTI_LABEL_DEFINITIONS} if sets else DEFINITIONS)


DEFINITIONS = {
    "share": "a class's current labels over all current labels (missing images excluded)",
    "labels_per_minute": "labels typed (not imported) over active minutes; active time sums "
                         "the gaps between an annotator's consecutive events of at most "
                         "idle_gap_seconds (the labeler's status line measures the same); "
                         "null under 30 s of active time",
    "undo_rate": "undos over labels, skips and reviews",
    "rating": "an annotator's latest own label of an image, undos applied; skips and reviews "
              "are no ratings",
    "fleiss_kappa": "over images with two or more raters; per-image agreement averaged with "
                    "equal weight, chance from the pooled class shares (Fleiss 1971 when every "
                    "image has the same number of raters)",
    "confusion": "each unordered pair of two annotators' ratings of an image, counted in both "
                 "cells",
}
MULTI_LABEL_DEFINITIONS = {
    "share": "the share of labeled images whose current set holds the class (missing images "
             "excluded; an image counts for each class of its set)",
    "rating": "an annotator's latest own set of classes for an image, undos applied; skips "
              "and reviews are no ratings",
    "fleiss_kappa": "exact sets: each distinct set one category (two ratings agree when their "
                    "sets are equal); per_class: each rating has the class or not",
    "confusion": "left out in multi-label mode; per_class pairs hold 2x2 confusions "
                 "[[neither, only b], [only a, both]]",
}

"""Labeling statistics: per class, per annotator, and agreement between annotators.

Headless (no textual, no torch): ``tui-label stats`` prints it, the labeler's statistics
screen shows the same text. Everything is read from the store's event log.

Definitions (also in the README):

- **Per class**: the current labels of the images that are not missing (as the labeler's
  counts), and each class's share of them.
- **Per annotator**, from every event they wrote: ``labels`` (label events, neither undos nor
  reviews), ``skips``, ``undos``, the undo rate (undos per label or skip), ``accepted``
  suggestions (labels with source ``suggestion``) and ``reviews`` (source ``review``).
  *Active time* is the sum of the gaps between an annotator's consecutive events that are at
  most ``IDLE_GAP_SECONDS`` (5 minutes) long: a longer gap is a break and counts nothing.
  Labels per minute is labels over active minutes (none under ``MIN_ACTIVE_SECONDS``, 30 s,
  of active time: two keys a second apart are no pace). Seconds on screen is the median of
  ``ms_on_screen`` over their labels and skips.
- **Agreement**: an annotator's *rating* of an image is their latest own label of it, undos
  applied (an undo takes back the event it undid, so the rating falls back to their label
  before it). A skip or clear is no rating, and reviews are not ratings (a review settles a
  disagreement; it is not an independent opinion). Images with ratings from two or more
  annotators are compared. Cohen's kappa is computed for each pair of annotators over the
  images both rated. Fleiss' kappa covers every such image, also with different numbers of
  raters per image: each image's agreement is ``sum n_ij (n_ij - 1) / (n_i (n_i - 1))``
  (``n_i`` raters, ``n_ij`` of them chose class ``j``), averaged over images with equal weight;
  chance agreement is ``sum p_j^2`` with ``p_j`` the share of class ``j`` among all ratings.
  With the same number of raters on each image this is Fleiss' (1971) kappa exactly. The
  confusion between annotators counts, over every image, each unordered pair of ratings by two
  annotators once, in both cells (a symmetric matrix; its diagonal is agreement). A kappa is
  ``None`` where it is undefined (chance agreement is 1: everyone used one class).

Multi-label mode (the database's mode is set, or an event holds a set of classes; an older
single label reads as a set of one): a rating is a set of classes. A class's count is the
images whose current set holds it, and its share is that over the labeled images (an image
counts for each class of its set: shares add up to more than 100%; the empty set counts as
labeled, for no class). Agreement is given two ways. *Exact set*: each distinct set is one
category, so two ratings agree when their sets are equal; the kappas above are computed over
those categories (with single labels only they are the single-label kappas). *Per class*:
each rating says "has the class" or not, a binary rating: Cohen's kappa per pair over the
images both rated (a 2x2 confusion: neither, only b, only a, both) and Fleiss' kappa over the
images with two or more raters. The class-by-class confusion matrix is left out (a pair of
sets has no one cell).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timezone
from itertools import combinations
from typing import NamedTuple

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from tui_label.core.times import parse_iso

IDLE_GAP_SECONDS = 300.0
MIN_ACTIVE_SECONDS = 30.0  # less active time than this gives no pace (a few keys: no rate)
BAR_WIDTH = 30
MATRIX_MAX_CLASSES = 12  # the text shows the confusion matrix up to this many classes


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


# -- kappas ---------------------------------------------------------------------------------


def cohen_kappa(confusion: Sequence[Sequence[int]]) -> float | None:
    """Cohen's kappa of two raters from their confusion matrix (rows: rater a, columns: rater
    b). None when undefined: no items, or chance agreement is 1."""
    m = np.asarray(confusion, dtype=float)
    n = m.sum()
    if n == 0:
        return None
    observed = np.trace(m) / n
    expected = float((m.sum(axis=1) * m.sum(axis=0)).sum() / (n * n))
    if math.isclose(expected, 1.0):
        return None
    return float((observed - expected) / (1 - expected))


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> tuple[float | None, float | None]:
    """Fleiss' kappa and the mean observed agreement of ``counts`` (one row per item, one
    column per class: how many raters chose it). Items may have different numbers of raters
    (see the module docstring); items with fewer than two are left out."""
    m = np.asarray(counts, dtype=float)
    if m.size == 0:
        return None, None
    raters = m.sum(axis=1)
    m = m[raters >= 2]
    raters = raters[raters >= 2]
    if len(m) == 0:
        return None, None
    per_item = (m * (m - 1)).sum(axis=1) / (raters * (raters - 1))
    observed = float(per_item.mean())
    p = m.sum(axis=0) / m.sum()
    expected = float((p * p).sum())
    if math.isclose(expected, 1.0):
        return None, observed
    return float((observed - expected) / (1 - expected)), observed


# -- ratings and agreement ------------------------------------------------------------------


def ratings(events: Iterable[Event], *, sets: bool = False) -> dict[int, dict[str, object]]:
    """Each image's ratings: ``{image_id: {annotator: class_id}}`` (see the module docstring:
    latest own label, undos applied, skips and reviews are no ratings), with ``sets`` a
    frozenset of class ids (a single label as a set of one). ``events`` in id order."""
    own: dict[tuple[int, str], list[Event]] = defaultdict(list)
    for e in events:
        key = (e.image_id, e.annotator)
        if e.undo_of is not None:
            stack = own.get(key)
            if stack:
                own[key] = [x for x in stack if x.id != e.undo_of]
            continue
        if e.source == "review":
            continue
        own[key].append(e)
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for (image_id, annotator), stack in own.items():
        if not stack or stack[-1].action != "label":
            continue
        last = stack[-1]
        if sets:
            result[image_id][annotator] = (
                frozenset(json.loads(last.classes)) if last.classes is not None
                else frozenset((last.class_id,)))
        elif last.class_id is not None:
            result[image_id][annotator] = last.class_id
    return {k: v for k, v in result.items() if v}


def agreement(rated: dict[int, dict[str, int]], class_ids: Sequence[int],
              class_names: Sequence[str]) -> Agreement:
    """Pairwise Cohen's kappas, Fleiss' kappa and the confusion between annotators."""
    index = {cid: i for i, cid in enumerate(class_ids)}
    names = list(class_names)
    for ratings_of in rated.values():  # a class the store no longer lists (cannot happen
        for cid in ratings_of.values():  # with foreign keys on, but never crash on it)
            if cid not in index:
                index[cid] = len(names)
                names.append(f"#{cid}")
    k = len(names)
    shared = {img: r for img, r in rated.items() if len(r) >= 2}
    pair_cells: dict[tuple[str, str], np.ndarray] = {}
    pooled = np.zeros((k, k), dtype=np.int64)
    counts = np.zeros((len(shared), k), dtype=np.int64)
    raters = Counter()
    for row, r in enumerate(shared.values()):
        raters[len(r)] += 1
        for cid in r.values():
            counts[row, index[cid]] += 1
        for a, b in combinations(sorted(r), 2):
            i, j = index[r[a]], index[r[b]]
            cells = pair_cells.get((a, b))
            if cells is None:
                cells = pair_cells[(a, b)] = np.zeros((k, k), dtype=np.int64)
            cells[i, j] += 1
            pooled[i, j] += 1
            if i != j:
                pooled[j, i] += 1
    kappa, observed = fleiss_kappa(counts)
    return Agreement(names, len(shared), dict(sorted(raters.items())), kappa, observed,
                     pair_agreements(pair_cells), pooled.tolist())


def pair_agreements(pair_cells: dict) -> list[PairAgreement]:
    """Each pair of annotators' agreement from its confusion counts, pairs in name order."""
    pairs = []
    for (a, b), cells in sorted(pair_cells.items()):
        n = int(cells.sum())
        pairs.append(PairAgreement(a, b, n, float(np.trace(cells) / n), cohen_kappa(cells),
                                   cells.tolist()))
    return pairs


def set_agreement(rated: dict[int, dict[str, frozenset[int]]], class_ids: Sequence[int],
                  class_names: Sequence[str]) -> Agreement:
    """Multi-label agreement (see the module docstring): kappas over exact sets, and per
    class binary kappas."""
    names = dict(zip(class_ids, class_names, strict=True))
    order = list(class_ids)
    for ratings_of in rated.values():  # a class the store no longer lists: never crash on it
        for cid in sorted(set().union(*ratings_of.values()) - set(names)):
            names[cid] = f"#{cid}"
            order.append(cid)
    shared = {img: r for img, r in rated.items() if len(r) >= 2}
    raters = Counter(len(r) for r in shared.values())
    # Exact sets: each distinct set one category.
    kinds = {s: n for n, s in enumerate(sorted({s for r in shared.values() for s in r.values()},
                                               key=sorted))}
    counts = np.zeros((len(shared), len(kinds)), dtype=np.int64)
    pair_cells: dict[tuple[str, str], np.ndarray] = {}
    for row, r in enumerate(shared.values()):
        for s in r.values():
            counts[row, kinds[s]] += 1
        for a, b in combinations(sorted(r), 2):
            cells = pair_cells.get((a, b))
            if cells is None:
                cells = pair_cells[(a, b)] = np.zeros((len(kinds), len(kinds)), dtype=np.int64)
            cells[kinds[r[a]], kinds[r[b]]] += 1
    pairs = []
    for (a, b), cells in sorted(pair_cells.items()):
        n = int(cells.sum())
        pairs.append(PairAgreement(a, b, n, float(np.trace(cells) / n), cohen_kappa(cells), []))
    kappa, observed = fleiss_kappa(counts)
    per_class = [_class_agreement(names[cid], cid, shared) for cid in order]
    return Agreement([names[cid] for cid in order], len(shared), dict(sorted(raters.items())),
                     kappa, observed, pairs, [], multi_label=True, per_class=per_class)


def _class_agreement(name: str, cid: int,
                     shared: dict[int, dict[str, frozenset[int]]]) -> ClassAgreement:
    counts = np.zeros((len(shared), 2), dtype=np.int64)  # per image: raters without, with
    pair_cells: dict[tuple[str, str], np.ndarray] = {}
    with_class = 0
    for row, r in enumerate(shared.values()):
        has = {who: cid in s for who, s in r.items()}
        yes = sum(has.values())
        counts[row] = (len(r) - yes, yes)
        with_class += yes > 0
        for a, b in combinations(sorted(r), 2):
            cells = pair_cells.get((a, b))
            if cells is None:
                cells = pair_cells[(a, b)] = np.zeros((2, 2), dtype=np.int64)
            cells[int(has[a]), int(has[b])] += 1
    kappa, observed = fleiss_kappa(counts)
    return ClassAgreement(name, with_class, kappa, observed, pair_agreements(pair_cells))


# -- per annotator --------------------------------------------------------------------------


def parse_time(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (``Z`` or an offset; naive is UTC), or None
    when it cannot be read (an imported file's odd format must not break the statistics)."""
    when = parse_iso(text)
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def active_seconds(times: Sequence[float], idle_gap: float = IDLE_GAP_SECONDS) -> float:
    """The sum of the gaps between consecutive ``times`` (sorted here) of at most
    ``idle_gap`` seconds: a longer gap is a break."""
    if len(times) < 2:
        return 0.0
    gaps = np.diff(np.sort(np.asarray(times, dtype=float)))
    return float(gaps[gaps <= idle_gap].sum())


def annotator_stats(events: Iterable[Event],
                    idle_gap: float = IDLE_GAP_SECONDS) -> list[AnnotatorStat]:
    """One row per annotator, most labels first."""
    acc: dict[str, dict] = {}
    for e in events:
        a = acc.get(e.annotator)
        if a is None:
            a = acc[e.annotator] = {"labels": 0, "skips": 0, "undos": 0, "accepted": 0,
                                    "reviews": 0, "times": [], "screen": [], "first": None,
                                    "last": None}
        when = parse_time(e.created_at)
        if when is not None:
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
            labels_per_minute=(a["labels"] / (active / 60) if active >= MIN_ACTIVE_SECONDS
                               else None),
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
    "labels_per_minute": "labels over active minutes; active time sums the gaps between an "
                         "annotator's consecutive events of at most idle_gap_seconds; null "
                         "under 30 s of active time",
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


# -- text -----------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _bar(count: int, most: int, width: int = BAR_WIDTH) -> str:
    if most <= 0 or count <= 0:
        return ""
    eighths = round(count / most * width * 8)
    full, part = divmod(max(eighths, 1), 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[part]


def _duration(seconds: float) -> str:
    if seconds < 60:  # down: 29.6 s is no "30s" beside a pace that needs 30 s
        return f"{int(seconds)}s"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def render(stats: Stats) -> Group:
    """The statistics as rich renderables, for the terminal and the labeler's screen. Names
    (classes, annotators) are user data: always Text, never markup."""
    parts: list = []
    head = Text(f"{stats.images} images: {stats.labeled} labeled, {stats.skipped} skipped, "
                f"{stats.remaining} to go", style="bold")
    parts.append(head)
    if stats.unreadable or stats.missing:
        parts.append(Text(f"{stats.unreadable} unreadable, {stats.missing} missing on disk"))

    parts.append(Text("\nPer class", style="bold underline"))
    classes = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    classes.add_column("key", justify="right")
    classes.add_column("class")
    classes.add_column("labels", justify="right")
    classes.add_column("share", justify="right")
    classes.add_column("")
    most = max((c.count for c in stats.classes), default=0)
    for c in stats.classes:
        classes.add_row(c.hotkey or "-", Text(c.name), str(c.count), f"{c.share:.1%}",
                        Text(_bar(c.count, most), style="bold"))
    parts.append(classes)
    if stats.multi_label:
        parts.append(Text("multi-label: share of labeled images whose set holds the class (an "
                          "image counts for each of its classes)", style="italic"))

    parts.append(Text("\nPer annotator", style="bold underline"))
    if not stats.annotators:
        parts.append(Text("No labels yet."))
    else:
        people = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for title in ("annotator", "labels", "per min", "active", "s on screen", "skips",
                      "undo rate", "accepted", "reviews"):
            people.add_column(title, justify="left" if title == "annotator" else "right")
        for a in stats.annotators:
            people.add_row(Text(a.annotator), str(a.labels), _num(a.labels_per_minute, 1),
                           _duration(a.active_seconds), _num(a.median_seconds_on_screen, 1),
                           str(a.skips),
                           "—" if a.undo_rate is None else f"{a.undo_rate:.1%}",
                           str(a.accepted), str(a.reviews))
        parts.append(people)
        parts.append(Text(f"per min: labels over active time (gaps over "
                          f"{stats.idle_gap_seconds / 60:g} min are breaks); s on screen: "
                          "median", style="italic"))

    parts.append(Text("\nAgreement", style="bold underline"))
    ag = stats.agreement
    if ag.images == 0:
        parts.append(Text("No image has labels from two annotators yet (tui-label label "
                          "--overlap sends a share of images to several)."))
        return Group(*parts)
    raters = ", ".join(f"{n} with {r} raters" for r, n in ag.raters.items())
    parts.append(Text(f"{ag.images} images labeled by two or more annotators ({raters})"))
    exact = "exact sets: " if ag.multi_label else ""
    parts.append(Text(f"{exact}Fleiss' kappa {_num(ag.fleiss_kappa, 3)}  "
                      f"(observed agreement {_num(ag.observed, 3)})", style="bold"))
    pairs = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for title in ("annotators", "images", "agree", "Cohen's kappa"):
        pairs.add_column(title, justify="left" if title == "annotators" else "right")
    for p in ag.pairs:
        pairs.add_row(Text(f"{p.a} · {p.b}"), str(p.images), f"{p.observed:.1%}",
                      _num(p.kappa, 3))
    parts.append(pairs)
    if ag.multi_label:
        parts.append(_per_class(ag))
        return Group(*parts)
    parts.append(_confusion(ag))
    return Group(*parts)


PER_CLASS_MAX_PAIRS = 3  # pair columns shown in the per-class table


def _per_class(ag: Agreement) -> Group:
    """Multi-label: each class's agreement, has it or not."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("class")
    table.add_column("images with it", justify="right")
    table.add_column("Fleiss' kappa", justify="right")
    table.add_column("agree", justify="right")
    shown = [(p.a, p.b) for p in ag.pairs[:PER_CLASS_MAX_PAIRS]]
    for a, b in shown:
        table.add_column(Text(f"{a} · {b}"), justify="right")
    for c in ag.per_class:
        kappas = {(p.a, p.b): p.kappa for p in c.pairs}
        table.add_row(Text(c.name), str(c.images), _num(c.fleiss_kappa, 3),
                      "—" if c.observed is None else f"{c.observed:.1%}",
                      *(_num(kappas.get(pair), 3) for pair in shown))
    note = "each rating has the class or not; the pair columns are Cohen's kappa"
    if len(ag.pairs) > len(shown):
        note += f" (first {len(shown)} pairs; --format json has all)"
    return Group(Text("\nPer class (multi-label)", style="bold underline"), table,
                 Text(note, style="italic"))


def _confusion(ag: Agreement) -> Group:
    used = [i for i in range(len(ag.classes))
            if any(ag.confusion[i]) or any(row[i] for row in ag.confusion)]
    title = Text("\nConfusion between annotators", style="bold underline")
    off = sorted(((ag.confusion[i][j], ag.classes[i], ag.classes[j])
                  for i in used for j in used if i < j and ag.confusion[i][j]), reverse=True)
    if len(used) <= MATRIX_MAX_CLASSES:
        matrix = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        matrix.add_column("")
        for j in used:
            matrix.add_column(Text(ag.classes[j]), justify="right")
        for i in used:
            cells = [Text(str(ag.confusion[i][j]) if ag.confusion[i][j] else "·",
                          style="bold" if i == j and ag.confusion[i][j] else "")
                     for j in used]
            matrix.add_row(Text(ag.classes[i], style="bold"), *cells)
        note = Text("each pair of two annotators' labels of an image counts once (diagonal: "
                    "they agree)", style="italic")
        body: list = [matrix, note]
    else:
        body = []
    if off:
        lines = Text("most confused: ")
        lines.append_text(Text(", ".join(f"{a} / {b} {n}" for n, a, b in off[:8])))
        body.append(lines)
    else:
        body.append(Text("no disagreements"))
    return Group(title, *body)

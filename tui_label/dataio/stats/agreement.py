"""Agreement between annotators: each image's ratings, Cohen's and Fleiss' kappas, the
confusion between annotators, and (multi-label) exact-set and per-class agreement (the
definitions are in ``tui_label.dataio.stats``'s docstring)."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np

from tui_label.dataio.stats.model import Agreement, ClassAgreement, Event, PairAgreement

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

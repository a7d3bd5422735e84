"""The order registry: which images the labeler shows, and in what order.

Each ``Order`` names itself, says how the picker shows it, whether it needs a model and a
class, and ranks the images. The session, ``--order``, the order picker and the status line
all read ``ORDERS``: adding an order means adding one entry here.

No SQL, no textual, no torch: an order ranks plain rows the store hands it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from typing import Any, Protocol

from tui_label.core.hashing import unit_hash
from tui_label.core.types import QueueItem, QueueRow
from tui_label.core.uncertainty import entropy, least_confidence, margin
from tui_label.errors import UsageError


class NamedClass(Protocol):
    id: int
    name: str


class ModelScores(Protocol):
    """What a model-based order reads (see ``tui_label.assist.model_view``): the model's view
    of images.

    ``probs(ids)`` gives an ``len(ids) x C`` array with a row of NaN for an image the model
    has not seen; ``column_classes[c]`` is today's class id of column ``c`` (None: a class
    that no longer exists); ``embeddings(ids)`` is ``len(ids) x D`` (NaN rows where none) or
    None; ``suspects`` are image ids, most doubtful label first; ``run_id`` names the model.
    """

    run_id: int
    column_classes: list[int | None]
    suspects: Sequence[int]

    def probs(self, ids: Sequence[int]) -> Any: ...

    def oof_probs(self, ids: Sequence[int]) -> Any:
        """Out-of-sample probabilities (same columns; NaN rows where none)."""
        ...

    def embeddings(self, ids: Sequence[int]) -> Any: ...

    def typical_first(self, ids: Sequence[int], labeled: Any) -> Any:
        """Positions of the unlabeled ones of ``ids`` (``labeled``: a mask), most typical
        first: TypiClust, which the labeler's model runs in the live head's process."""


# ``class_id`` is the chosen class, or ``(true, predicted)`` for an order that needs a pair.
Rank = Callable[[Sequence[QueueRow], Any, "ModelScores | None"], list[QueueItem]]

def _items(rows: Iterable[Sequence]) -> list[QueueItem]:
    """Queue items from rows (id and path first): the fastest way to build 100,000 of them."""
    return list(map(_NEW_ITEM, map(_ID_PATH, rows)))


_ID_PATH = itemgetter(0, 1)
_NEW_ITEM = partial(tuple.__new__, QueueItem)  # no Python frame per item

# Unlabeled (never touched, or cleared by undo) first, then skipped, then labeled.
_STATE_RANK = {None: 0, "clear": 0, "skip": 1, "label": 2}


def _unlabeled_first(rows: Sequence[QueueRow], class_id: int | None,
                     model: ModelScores | None = None) -> list[QueueItem]:
    buckets: tuple[list, list, list] = ([], [], [])  # path order kept within each
    for r in rows:
        buckets[_STATE_RANK[r[2]]].append(r)
    return _items(r for bucket in buckets for r in bucket)


def _all(rows: Sequence[QueueRow], class_id: int | None,
         model: ModelScores | None = None) -> list[QueueItem]:
    return _items(rows)


def _skipped(rows: Sequence[QueueRow], class_id: int | None,
             model: ModelScores | None = None) -> list[QueueItem]:
    return [QueueItem(r[0], r[1]) for r in rows if r[2] == "skip"]


def _has_class(value: int | str | None, class_id: int | None) -> bool:
    """Whether a row's class (or multi-label set, JSON) is or holds ``class_id``."""
    if isinstance(value, str):
        return class_id in json.loads(value)
    return value == class_id


def _of_class(rows: Sequence[QueueRow], class_id: int | None,
              model: ModelScores | None = None) -> list[QueueItem]:
    return [QueueItem(r[0], r[1]) for r in rows if r[2] == "label" and _has_class(r[3], class_id)]


# -- orders that read a model (numpy imported when one runs: the CLI starts without it) ----

RANDOM_SEED = "tui-label"


def _is_unlabeled(row: Sequence) -> bool:
    return row[2] is None or row[2] == "clear"


def _random(rows: Sequence[QueueRow], class_id: int | None,
            model: ModelScores | None = None) -> list[QueueItem]:
    """Unlabeled, then skipped, then labeled, each shuffled by a stable hash of the path."""
    buckets: tuple[list, list, list] = ([], [], [])
    for r in rows:
        buckets[_STATE_RANK[r[2]]].append(r)
    return _items(r for bucket in buckets
                  for r in sorted(bucket, key=lambda r: unit_hash(f"{RANDOM_SEED}:{r[1]}")))


def _ranked(rows: Sequence[Sequence], key: Any) -> list[QueueItem]:
    """``rows`` by ``key`` ascending (stable: ties keep path order); NaN keys go last."""
    import numpy as np

    key = np.asarray(key, dtype=np.float64)
    order = np.argsort(np.where(np.isnan(key), np.inf, key), kind="stable")
    return _items(rows[i] for i in order.tolist())


def _unlabeled_probs(rows: Sequence[QueueRow], model: ModelScores) -> tuple[list, Any]:
    """The unlabeled rows and their probabilities (NaN rows: no prediction)."""
    import numpy as np

    todo = [r for r in rows if _is_unlabeled(r)]
    probs = np.asarray(model.probs([r[0] for r in todo]), dtype=np.float64)
    return todo, probs.reshape(len(todo), len(model.column_classes))


def _known_top(probs: Any, model: ModelScores) -> tuple[Any, Any]:
    """Each row's most probable class among today's classes: (column, probability)."""
    import numpy as np

    known = np.array([c is not None for c in model.column_classes], dtype=bool)
    masked = np.where(known[None, :], probs, -np.inf) if len(probs) else probs
    if not masked.size:
        return np.zeros(len(probs), dtype=np.int64), np.full(len(probs), np.nan)
    nan_rows = np.isnan(probs).any(axis=1)
    col = np.argmax(np.where(np.isnan(masked), -np.inf, masked), axis=1)
    top = np.take_along_axis(probs, col[:, None], axis=1)[:, 0]
    top = np.where(nan_rows | ~known[col], np.nan, top)
    return col, top


def _uncertainty(score: Callable[[Any], Any], descending: bool) -> Rank:
    def rank(rows: Sequence[QueueRow], class_id: int | None,
             model: ModelScores | None = None) -> list[QueueItem]:
        import numpy as np

        assert model is not None
        todo, probs = _unlabeled_probs(rows, model)
        seen = ~np.isnan(probs).any(axis=1) if probs.size else np.zeros(len(todo), bool)
        scores = np.full(len(todo), np.nan)
        if seen.any():
            scores[seen] = score(probs[seen])
        return _ranked(todo, -scores if descending else scores)

    return rank


def _most_confident(rows: Sequence[QueueRow], class_id: int | None,
                    model: ModelScores | None = None) -> list[QueueItem]:
    assert model is not None
    todo, probs = _unlabeled_probs(rows, model)
    _col, top = _known_top(probs, model)
    return _ranked(todo, -top)


def _predicted(rows: Sequence[QueueRow], class_id: int | None,
               model: ModelScores | None = None) -> list[QueueItem]:
    """Unlabeled images whose top class (among today's) is ``class_id``, surest first."""
    import numpy as np

    assert model is not None
    todo, probs = _unlabeled_probs(rows, model)
    col, top = _known_top(probs, model)
    columns = np.array([-1 if c is None else c for c in model.column_classes], dtype=np.int64)
    hit = ~np.isnan(top) & (columns[col] == class_id) if len(todo) else np.zeros(0, bool)
    picked = np.flatnonzero(hit)
    return _ranked([todo[i] for i in picked.tolist()], -top[picked])


def _typical(rows: Sequence[QueueRow], class_id: int | None,
             model: ModelScores | None = None) -> list[QueueItem]:
    """Unlabeled images, the most typical of each cluster of embeddings first (TypiClust);
    images without embeddings after them, in path order."""
    import numpy as np

    assert model is not None
    emb = model.embeddings([r[0] for r in rows])
    if emb is None:
        return _items(r for r in rows if _is_unlabeled(r))
    emb = np.asarray(emb, dtype=np.float32)
    has = ~np.isnan(emb).any(axis=1) if emb.size else np.zeros(len(rows), bool)
    unlabeled = np.array([_is_unlabeled(r) for r in rows], dtype=bool)
    index = np.flatnonzero(has)
    picked = model.typical_first([rows[i][0] for i in index.tolist()], ~unlabeled[index])
    first = [rows[i] for i in index[picked].tolist() if unlabeled[i]]
    rest = [r for i, r in enumerate(rows) if unlabeled[i] and not has[i]]
    return _items(first + rest)


def _suspects(rows: Sequence[QueueRow], class_id: int | None,
              model: ModelScores | None = None) -> list[QueueItem]:
    """Labeled images whose label the out-of-sample model doubts, most doubtful first."""
    assert model is not None
    labeled = {r[0]: r for r in rows if r[2] == "label"}
    return _items(labeled[i] for i in model.suspects if i in labeled)


def _confusion(rows: Sequence[QueueRow], pair: tuple[int, int] | None,
               model: ModelScores | None = None) -> list[QueueItem]:
    """Images labeled as the pair's true class whose out-of-sample (else the model's) top
    class is the pair's predicted class, surest first."""
    import numpy as np

    assert model is not None and pair is not None
    true_id, predicted_id = pair
    todo = [r for r in rows if r[2] == "label" and r[3] == true_id]
    ids = [r[0] for r in todo]
    width = len(model.column_classes)
    probs = np.asarray(model.probs(ids), dtype=np.float64).reshape(len(ids), width)
    oof = np.asarray(model.oof_probs(ids), dtype=np.float64).reshape(len(ids), width)
    have_oof = ~np.isnan(oof).any(axis=1) if oof.size else np.zeros(len(ids), bool)
    probs[have_oof] = oof[have_oof]
    col, top = _known_top(probs, model)
    columns = np.array([-1 if c is None else c for c in model.column_classes], dtype=np.int64)
    hit = ~np.isnan(top) & (columns[col] == predicted_id) if len(todo) else np.zeros(0, bool)
    picked = np.flatnonzero(hit)
    return _ranked([todo[i] for i in picked.tolist()], -top[picked])


@dataclass(frozen=True)
class Order:
    """One way to queue images."""

    name: str  # what --order takes (``class`` as ``class:NAME``)
    picker: str  # the picker's text; ``{cls}`` (and ``{other}``) is replaced by a class name
    rank: Rank
    needs_model: bool = False
    needs_class: bool = False
    needs_pair: bool = False  # two classes, ``confusion:TRUE:PREDICTED``; implies needs_class
    # The images the store hands ``rank``: every one (``all``), or only those annotators
    # disagree on (``disagreements``, offered only when there are any).
    source: str = "all"
    # Ranks labeled images for review (suspects, a confusion cell): images labeled in this
    # session belong in it, where the other model orders leave them out.
    review: bool = False


ORDERS: dict[str, Order] = {
    order.name: order
    for order in (
        Order("unlabeled", "Unlabeled first", _unlabeled_first),
        Order("all", "All images, by path", _all),
        Order("skipped", "Skipped only", _skipped),
        Order("class", "Labeled as {cls}", _of_class, needs_class=True),
        Order("random", "Random (seeded), unlabeled first", _random),
        Order("least-confident", "Least confident first", _uncertainty(least_confidence, True),
              needs_model=True),
        Order("margin", "Smallest margin first", _uncertainty(margin, False),
              needs_model=True),
        Order("entropy", "Highest entropy first", _uncertainty(entropy, True),
              needs_model=True),
        Order("most-confident", "Most confident first (fast accepts)", _most_confident,
              needs_model=True),
        Order("predicted", "Predicted as {cls}", _predicted, needs_model=True,
              needs_class=True),
        Order("typical", "Typical first (cold start)", _typical, needs_model=True),
        Order("suspects", "Suspect labels", _suspects, needs_model=True, review=True),
        Order("confusion", "Labeled {cls}, predicted {other}", _confusion, needs_model=True,
              needs_class=True, needs_pair=True, review=True),
        Order("disagreements", "Disagreements between annotators (review)", _all,
              source="disagreements"),
    )
}
DEFAULT = "unlabeled"


@dataclass(frozen=True)
class OrderChoice:
    """An order and, for orders that need one, its class."""

    name: str = DEFAULT
    class_id: int | None = None
    other_id: int | None = None  # the predicted class of a ``confusion`` pair

    @property
    def order(self) -> Order:
        return ORDERS[self.name]

    def describe(self, class_names: dict[int, str]) -> str:
        """Plain text for the status line and picker (user data: never markup)."""
        if self.order.needs_class:
            # One pass over the template: a class name holding "{other}" stays as it is.
            return self.order.picker.format(cls=class_names.get(self.class_id, "?"),
                                            other=class_names.get(self.other_id, "?"))
        return self.order.picker

    def rank(self, rows: Sequence[QueueRow],
             model: ModelScores | None = None) -> list[QueueItem]:
        """The queue. Raises ``UsageError`` for an order that needs a model and has none."""
        if self.order.needs_model and model is None:
            raise UsageError(f"the order {self.order.name!r} needs a model: train one first "
                             "(T in the labeler, or tui-label train)")
        if self.order.needs_pair:
            return self.order.rank(rows, (self.class_id, self.other_id), model)
        return self.order.rank(rows, self.class_id, model)


def _spelling(order: Order) -> str:
    if order.needs_pair:
        return f"{order.name}:TRUE:PREDICTED"
    return f"{order.name}:NAME" if order.needs_class else order.name


def usage() -> str:
    """How ``--order`` is written, for help and error texts."""
    return ", ".join(_spelling(o) for o in ORDERS.values())


def parse(text: str, classes: Sequence[NamedClass]) -> OrderChoice:
    """``--order`` text to a choice, checked against ``classes``.

    Raises:
        UsageError: an unknown order, or a class that does not exist.
    """
    name, sep, cls = text.partition(":")
    order = ORDERS.get(name)
    if order is None or bool(sep) != order.needs_class or (order.needs_class and not cls):
        raise UsageError(f"--order {text!r}: choose {usage()}")
    if not order.needs_class:
        return OrderChoice(name)
    ids = {row.name: row.id for row in classes}
    if order.needs_pair:
        # Class names may hold a colon: take the split where both sides are classes.
        for at in (i for i, ch in enumerate(cls) if ch == ":"):
            true, predicted = cls[:at], cls[at + 1:]
            if true in ids and predicted in ids:
                return OrderChoice(name, ids[true], ids[predicted])
        if ":" not in cls:
            raise UsageError(f"--order {text!r}: write {_spelling(order)}")
        raise UsageError(f"--order {text!r}: no two classes named in it")
    if cls in ids:
        return OrderChoice(name, ids[cls])
    raise UsageError(f"--order {text!r}: no class named {cls!r}")


def text_of(choice: OrderChoice, class_names: dict[int, str]) -> str:
    """``--order`` text of a choice (the inverse of ``parse``)."""
    if choice.order.needs_pair:
        return (f"{choice.name}:{class_names.get(choice.class_id, '?')}:"
                f"{class_names.get(choice.other_id, '?')}")
    if choice.order.needs_class:
        return f"{choice.name}:{class_names.get(choice.class_id, '?')}"
    return choice.name


def _offered(order: Order, has_model: bool, has_disagreements: bool) -> bool:
    return ((has_model or not order.needs_model)
            and (has_disagreements or order.source != "disagreements"))


def choices(classes: Sequence[NamedClass], *, has_model: bool = False,
            has_disagreements: bool = False) -> list[OrderChoice]:
    """Every choice the picker offers, in registry order (one per class where needed).

    Orders that need a model come only ``has_model``, the review of disagreements only
    ``has_disagreements``; a confusion pair is not listed (one per pair of classes would swamp
    the list): the confusion matrix's drill-down opens one.
    """
    out: list[OrderChoice] = []
    for order in ORDERS.values():
        if not _offered(order, has_model, has_disagreements) or order.needs_pair:
            continue
        if order.needs_class:
            out.extend(OrderChoice(order.name, row.id) for row in classes)
        else:
            out.append(OrderChoice(order.name))
    return out


def cycle(current: OrderChoice, step: int, *, has_model: bool,
          has_disagreements: bool = False) -> OrderChoice:
    """The next (``step`` 1) or previous (-1) order of the registry that needs no class: what
    ``]`` and ``[`` go through. From a class order, the cycle starts at the first."""
    ring = [o.name for o in ORDERS.values()
            if not o.needs_class and _offered(o, has_model, has_disagreements)]
    if current.name not in ring:
        return OrderChoice(ring[0] if step > 0 else ring[-1])
    return OrderChoice(ring[(ring.index(current.name) + step) % len(ring)])

"""The order registry: which images the labeler shows, and in what order.

Each ``Order`` names itself, says how the picker shows it, whether it needs a model and a
class, and ranks the images. The session, ``--order``, the order picker and the status line
all read ``ORDERS``: adding an order means adding one entry here.

No SQL, no textual, no torch: an order ranks plain rows the store hands it. The orders that
read a model rank in ``tui_label.core.rankings``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tui_label.core.hashing import unit_hash
from tui_label.core.rankings import (
    RANDOM_SEED,
    ModelScores,
    Pixels,
    Rank,
    confusion,
    duplicates,
    items,
    most_confident,
    predicted,
    suspects,
    typical,
    uncertainty,
)
from tui_label.core.types import QueueItem, QueueRow
from tui_label.core.uncertainty import entropy, least_confidence, margin
from tui_label.errors import UsageError


class NamedClass(Protocol):
    """A class row: its id and name (read only)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


# Unlabeled (never touched, or cleared by undo) first, then skipped, then labeled.
_STATE_RANK = {None: 0, "clear": 0, "skip": 1, "label": 2}


def _unlabeled_first(rows: Sequence[QueueRow], class_id: int | None,
                     model: ModelScores | None = None) -> list[QueueItem]:
    buckets: tuple[list, list, list] = ([], [], [])  # path order kept within each
    for r in rows:
        buckets[_STATE_RANK[r[2]]].append(r)
    return items(r for bucket in buckets for r in bucket)


def _all(rows: Sequence[QueueRow], class_id: int | None,
         model: ModelScores | None = None) -> list[QueueItem]:
    return items(rows)


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


def _unlabeled_count(rows: Sequence[QueueRow], class_id: int | None,
                     model: ModelScores | None = None) -> int:
    return sum(1 for r in rows if _STATE_RANK[r[2]] == 0)




def _random(rows: Sequence[QueueRow], class_id: int | None,
            model: ModelScores | None = None) -> list[QueueItem]:
    """Unlabeled, then skipped, then labeled, each shuffled by a stable hash of the path."""
    buckets: tuple[list, list, list] = ([], [], [])
    for r in rows:
        buckets[_STATE_RANK[r[2]]].append(r)
    return items(r for bucket in buckets
                 for r in sorted(bucket, key=lambda r: unit_hash(f"{RANDOM_SEED}:{r[1]}")))


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
    # How many images ``rank`` gives, for an order whose ranking is too slow to run only to
    # count (typical: clustering); None: the length of the ranking.
    size: Callable[[Sequence[QueueRow], Any, ModelScores | None], int] | None = None
    # Ranks without a model too, on the images' pixels (``Pixels``, in the background);
    # a model, once there is one, ranks it instead.
    cold: bool = False

    @property
    def ranks_by_model(self) -> bool:
        """Whether a new model ranks this order again."""
        return self.needs_model or self.cold


ORDERS: dict[str, Order] = {
    order.name: order
    for order in (
        Order("unlabeled", "Unlabeled first", _unlabeled_first),
        Order("all", "All images, by path", _all),
        Order("skipped", "Skipped only", _skipped),
        Order("class", "Labeled as {cls}", _of_class, needs_class=True),
        Order("random", "Random (seeded), unlabeled first", _random),
        Order("least-confident", "Least confident first", uncertainty(least_confidence, True),
              needs_model=True),
        Order("margin", "Smallest margin first", uncertainty(margin, False),
              needs_model=True),
        Order("entropy", "Highest entropy first", uncertainty(entropy, True),
              needs_model=True),
        Order("most-confident", "Most confident first (fast accepts)", most_confident,
              needs_model=True),
        Order("predicted", "Predicted as {cls}", predicted, needs_model=True,
              needs_class=True),
        Order("typical", "Typical first (cold start)", typical, cold=True,
              size=_unlabeled_count),  # every unlabeled image, the typical ones first
        Order("duplicates", "Duplicates, a group at a time (largest first)", duplicates,
              needs_model=True),
        Order("suspects", "Suspect labels", suspects, needs_model=True, review=True),
        Order("confusion", "Labeled {cls}, predicted {other}", confusion, needs_model=True,
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

    def describe(self, class_names: Mapping[int, str]) -> str:
        """Plain text for the status line and picker (user data: never markup)."""
        if self.order.needs_class:
            # One pass over the template: a class name holding "{other}" stays as it is.
            return self.order.picker.format(cls=_name(class_names, self.class_id),
                                            other=_name(class_names, self.other_id))
        return self.order.picker

    def rank(self, rows: Sequence[QueueRow],
             model: ModelScores | Pixels | None = None) -> list[QueueItem]:
        """The queue. Raises ``UsageError`` for an order that needs a model and has none."""
        self._check_model(model)
        if self.order.needs_pair:
            return self.order.rank(rows, (self.class_id, self.other_id), model)
        return self.order.rank(rows, self.class_id, model)

    def size(self, rows: Sequence[QueueRow], model: ModelScores | None = None) -> int:
        """How many images the order holds (what the picker shows beside it); refused like
        ``rank``."""
        if self.order.size is None or self.order.needs_pair:
            return len(self.rank(rows, model))
        self._check_model(model)
        return self.order.size(rows, self.class_id, model)

    def _check_model(self, model: ModelScores | Pixels | None) -> None:
        if self.order.needs_model and model is None:
            raise UsageError(f"the order {self.order.name!r} needs a model: train one first "
                             "(T in the labeler, or tui-label train)")


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


def _name(class_names: Mapping[int, str], class_id: int | None) -> str:
    return "?" if class_id is None else class_names.get(class_id, "?")


def text_of(choice: OrderChoice, class_names: Mapping[int, str]) -> str:
    """``--order`` text of a choice (the inverse of ``parse``)."""
    if choice.order.needs_pair:
        return (f"{choice.name}:{_name(class_names, choice.class_id)}:"
                f"{_name(class_names, choice.other_id)}")
    if choice.order.needs_class:
        return f"{choice.name}:{_name(class_names, choice.class_id)}"
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

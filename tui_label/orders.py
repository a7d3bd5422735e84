"""The order registry: which images the labeler shows, and in what order.

Each ``Order`` names itself, says how the picker shows it, whether it needs a model and a
class, and ranks the images. ``store.queue``, ``--order``, the order picker and the status line
all read ``ORDERS``: adding an order means adding one entry here.

No SQL, no textual, no torch: an order ranks plain rows the store hands it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from tui_label.errors import UsageError


class QueueItem(NamedTuple):  # a tuple: a queue of a million builds fast
    id: int
    path: str


class QueueRow(NamedTuple):
    """One image and its current state, as the store hands it to an order (path order)."""

    id: int
    path: str
    action: str | None  # the latest event's action: 'label', 'skip', 'clear', or None
    class_id: int | None


class NamedClass(Protocol):
    id: int
    name: str


class ModelScores(Protocol):
    """What a model-based order reads (see ``tui_label.model``): the model's view of images.

    ``probs(ids)`` gives an ``len(ids) x C`` array with a row of NaN for an image the model
    has not seen; ``column_classes[c]`` is today's class id of column ``c`` (None: a class
    that no longer exists); ``embeddings(ids)`` is ``len(ids) x D`` (NaN rows where none) or
    None; ``suspects`` are image ids, most doubtful label first; ``run_id`` names the model.
    """

    run_id: int
    column_classes: list[int | None]
    suspects: list[int]

    def probs(self, ids: Sequence[int]) -> Any: ...

    def embeddings(self, ids: Sequence[int]) -> Any: ...


Rank = Callable[[Sequence[QueueRow], "int | None", "ModelScores | None"], list[QueueItem]]

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


def _of_class(rows: Sequence[QueueRow], class_id: int | None,
              model: ModelScores | None = None) -> list[QueueItem]:
    return [QueueItem(r[0], r[1]) for r in rows if r[2] == "label" and r[3] == class_id]


@dataclass(frozen=True)
class Order:
    """One way to queue images."""

    name: str  # what --order takes (``class`` as ``class:NAME``)
    picker: str  # the picker's text; ``{cls}`` is replaced by the class name
    rank: Rank
    needs_model: bool = False
    needs_class: bool = False


ORDERS: dict[str, Order] = {
    order.name: order
    for order in (
        Order("unlabeled", "Unlabeled first", _unlabeled_first),
        Order("all", "All images, by path", _all),
        Order("skipped", "Skipped only", _skipped),
        Order("class", "Labeled as {cls}", _of_class, needs_class=True),
    )
}
DEFAULT = "unlabeled"


@dataclass(frozen=True)
class OrderChoice:
    """An order and, for orders that need one, its class."""

    name: str = DEFAULT
    class_id: int | None = None

    @property
    def order(self) -> Order:
        return ORDERS[self.name]

    def describe(self, class_names: dict[int, str]) -> str:
        """Plain text for the status line and picker (user data: never markup)."""
        if self.order.needs_class:
            return self.order.picker.format(cls=class_names.get(self.class_id, "?"))
        return self.order.picker

    def rank(self, rows: Sequence[QueueRow],
             model: ModelScores | None = None) -> list[QueueItem]:
        """The queue. Raises ``UsageError`` for an order that needs a model and has none."""
        if self.order.needs_model and model is None:
            raise UsageError(f"the order {self.order.name!r} needs a model: train one first "
                             "(T in the labeler, or tui-label train)")
        return self.order.rank(rows, self.class_id, model)


def usage() -> str:
    """How ``--order`` is written, for help and error texts."""
    return ", ".join(f"{o.name}:NAME" if o.needs_class else o.name for o in ORDERS.values())


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
    for row in classes:
        if row.name == cls:
            return OrderChoice(name, row.id)
    raise UsageError(f"--order {text!r}: no class named {cls!r}")


def choices(classes: Sequence[NamedClass], *, has_model: bool = False) -> list[OrderChoice]:
    """Every choice the picker offers, in registry order (one per class where needed)."""
    out: list[OrderChoice] = []
    for order in ORDERS.values():
        if order.needs_model and not has_model:
            continue
        if order.needs_class:
            out.extend(OrderChoice(order.name, row.id) for row in classes)
        else:
            out.append(OrderChoice(order.name))
    return out

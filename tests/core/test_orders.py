"""The order registry: parsing ``--order``, the picker's choices, and each order's ranking."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from tui_label.core import orders
from tui_label.core.orders import ORDERS, OrderChoice
from tui_label.core.types import QueueItem, QueueRow
from tui_label.errors import UsageError


@dataclass
class Cls:
    id: int
    name: str


CLASSES = [Cls(1, "cat"), Cls(2, "dog"), Cls(3, "[/]")]
ROWS = [  # path order, as the store hands them
    QueueRow(10, "a.png", "label", 1),
    QueueRow(11, "b.png", None, None),
    QueueRow(12, "c.png", "skip", None),
    QueueRow(13, "d.png", "clear", None),
    QueueRow(14, "e.png", "label", 2),
    QueueRow(15, "f.png", "label", 1),
]


def ids(items: list[QueueItem]) -> list[int]:
    return [i.id for i in items]


def test_unlabeled_first_then_skipped_then_labeled_each_by_path():
    assert ids(OrderChoice("unlabeled").rank(ROWS)) == [11, 13, 12, 10, 14, 15]


def test_all_keeps_path_order():
    assert ids(OrderChoice("all").rank(ROWS)) == [10, 11, 12, 13, 14, 15]


def test_skipped_only():
    assert ids(OrderChoice("skipped").rank(ROWS)) == [12]


def test_one_class_only():
    assert ids(OrderChoice("class", 1).rank(ROWS)) == [10, 15]
    assert ids(OrderChoice("class", 2).rank(ROWS)) == [14]


@pytest.mark.parametrize("text, expected", [
    ("unlabeled", OrderChoice("unlabeled")),
    ("all", OrderChoice("all")),
    ("skipped", OrderChoice("skipped")),
    ("class:dog", OrderChoice("class", 2)),
    ("class:[/]", OrderChoice("class", 3)),
])
def test_parse(text: str, expected: OrderChoice):
    assert orders.parse(text, CLASSES) == expected


@pytest.mark.parametrize("text, fragment", [
    ("sideways", "choose unlabeled, all, skipped, class:NAME"),
    ("class", "choose"),
    ("class:", "choose"),
    ("all:cat", "choose"),
    ("class:nope", "no class named 'nope'"),
])
def test_parse_refuses_with_one_line(text: str, fragment: str):
    with pytest.raises(UsageError, match=fragment) as info:
        orders.parse(text, CLASSES)
    assert "\n" not in str(info.value)


def test_picker_choices_come_from_the_registry_one_per_class():
    choices = orders.choices(CLASSES)
    names = {c.id: c.name for c in CLASSES}
    assert [c.describe(names) for c in choices] == [
        "Unlabeled first", "All images, by path", "Skipped only",
        "Labeled as cat", "Labeled as dog", "Labeled as [/]", "Random (seeded), unlabeled first",
        "Typical first (cold start)",  # by the images' pixels until there is a model
    ]


def test_a_new_entry_is_all_it_takes(monkeypatch):
    """Adding an order is one registry entry: parse, the picker and ranking all see it."""
    newest = orders.Order("reverse", "Reverse path order",
                          lambda rows, _c, _m: [QueueItem(r.id, r.path) for r in reversed(rows)])
    monkeypatch.setitem(ORDERS, "reverse", newest)
    choice = orders.parse("reverse", CLASSES)
    assert ids(choice.rank(ROWS)) == [15, 14, 13, 12, 11, 10]
    assert "Reverse path order" in [c.describe({}) for c in orders.choices(CLASSES)]
    assert "reverse" in orders.usage()


def test_orders_that_need_a_model_are_offered_only_with_one(monkeypatch):
    model_order = orders.Order("confident", "Most confident first", lambda rows, _c, _m: [],
                               needs_model=True)
    monkeypatch.setitem(ORDERS, "confident", model_order)
    assert OrderChoice("confident") not in orders.choices(CLASSES)
    assert OrderChoice("confident") in orders.choices(CLASSES, has_model=True)
    with pytest.raises(UsageError, match="needs a model: train one first"):
        OrderChoice("confident").rank(ROWS)


def test_the_orders_load_no_numpy_and_nothing_above_core():
    code = ("import sys, tui_label.core.orders; "
            "print(' '.join(sorted(m for m in sys.modules "
            "if m == 'numpy' or m.startswith('tui_label.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert "numpy" not in out  # the model orders import it when one ranks
    assert {m.split(".")[1] for m in out} <= {"core", "errors"}

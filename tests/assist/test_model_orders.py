"""The model orders of the registry, on hand-made probability arrays and a fake model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from tui_label.core import orders, rankings
from tui_label.core.orders import OrderChoice
from tui_label.core.types import QueueRow
from tui_label.errors import UsageError


@dataclass
class Cls:
    id: int
    name: str


CLASSES = [Cls(1, "cat"), Cls(2, "dog"), Cls(3, "a:b"), Cls(4, "b")]
NAN = float("nan")


@dataclass
class FakeModel:
    """``rankings.ModelScores`` from dicts: image id -> probabilities (columns: classes)."""

    table: dict[int, list[float]]
    column_classes: list[int | None] = field(default_factory=lambda: [1, 2, 3])
    oof: dict[int, list[float]] = field(default_factory=dict)
    emb: dict[int, list[float]] | None = None
    suspects: Sequence[int] = ()
    run_id: int = 7

    def _rows(self, table: dict, ids: Sequence[int], width: int) -> np.ndarray:
        return np.array([table.get(i, [NAN] * width) for i in ids],
                        dtype=np.float64).reshape(len(ids), width)

    def probs(self, ids):
        return self._rows(self.table, ids, len(self.column_classes))

    def oof_probs(self, ids):
        return self._rows(self.oof, ids, len(self.column_classes))

    def embeddings(self, ids):
        if self.emb is None:
            return None
        return self._rows(self.emb, ids, 2)


def row(i: int, action: str | None = None, class_id: int | None = None) -> QueueRow:
    return QueueRow(i, f"{i:03d}.png", action, class_id)


# Unlabeled 1-5 (4 was cleared by an undo), 6 skipped, 7-8 labeled; 5 has no prediction.
ROWS = [row(1), row(2), row(3), row(4, "clear"), row(5), row(6, "skip"), row(7, "label", 1),
        row(8, "label", 2)]
PROBS = {
    1: [0.90, 0.05, 0.05],  # sure: cat
    2: [0.40, 0.35, 0.25],  # unsure, small margin, high entropy
    3: [0.50, 0.10, 0.40],  # margin 0.10
    4: [0.10, 0.85, 0.05],  # sure-ish: dog
    6: [0.34, 0.33, 0.33],  # skipped: never in the model orders of unlabeled images
    7: [0.10, 0.80, 0.10],
    8: [0.20, 0.70, 0.10],
}


def ranked(name: str, model, class_id=None, other=None) -> list[int]:
    return [it.id for it in OrderChoice(name, class_id, other).rank(ROWS, model)]


def test_least_confident_first_then_images_without_predictions():
    # 1 - top: 1 -> .10, 2 -> .60, 3 -> .50, 4 -> .15; 5 has none: last.
    assert ranked("least-confident", FakeModel(PROBS)) == [2, 3, 4, 1, 5]


def test_smallest_margin_first():
    # margins: 1 -> .85, 2 -> .05, 3 -> .10, 4 -> .75
    assert ranked("margin", FakeModel(PROBS)) == [2, 3, 4, 1, 5]


def test_highest_entropy_first():
    def h(p):
        return -sum(x * np.log(x) for x in p)

    expected = sorted([1, 2, 3, 4], key=lambda i: -h(PROBS[i])) + [5]
    assert ranked("entropy", FakeModel(PROBS)) == expected == [2, 3, 4, 1, 5]


def test_margin_ties_keep_path_order():
    model = FakeModel({i: [0.5, 0.5, 0.0] for i in (1, 2, 3, 4, 5)})
    assert ranked("margin", model) == [1, 2, 3, 4, 5]


def test_most_confident_first_ignores_classes_that_are_gone():
    # Column 0's class no longer exists: image 1's 0.90 does not count; its known top is 0.05.
    model = FakeModel(PROBS, column_classes=[None, 2, 3])
    assert ranked("most-confident", model) == [4, 3, 2, 1, 5]
    assert ranked("most-confident", FakeModel(PROBS)) == [1, 4, 3, 2, 5]


def test_predicted_as_a_class_surest_first():
    model = FakeModel({**PROBS, 5: [0.6, 0.3, 0.1]})
    assert ranked("predicted", model, 1) == [1, 5, 3, 2]
    assert ranked("predicted", model, 2) == [4]  # 7 and 8 are labeled: not offered
    assert ranked("predicted", model, 3) == []


def test_suspects_in_their_rank_order_labeled_images_only():
    model = FakeModel(PROBS, suspects=[8, 2, 7])  # 2 is no longer labeled
    assert ranked("suspects", model) == [8, 7]


def test_confusion_uses_out_of_sample_probabilities_first():
    rows_cat = {7: [0.10, 0.80, 0.10]}  # labeled cat, the model says dog
    model = FakeModel({**PROBS, **rows_cat}, oof={7: [0.2, 0.7, 0.1]})
    assert ranked("confusion", model, 1, 2) == [7]
    # Out of sample it says cat: not a cat-predicted-dog image, whatever the model says.
    model = FakeModel({**PROBS, **rows_cat}, oof={7: [0.9, 0.05, 0.05]})
    assert ranked("confusion", model, 1, 2) == []
    assert ranked("confusion", model, 1, 1) == [7]
    assert ranked("confusion", FakeModel(PROBS), 2, 2) == [8]


def test_typical_first_takes_unlabeled_images_with_embeddings():
    emb = {i: [float(i), 0.0] for i in (1, 2, 3, 4, 7, 8)}
    seen = {}

    class Typical(FakeModel):
        def typical_first(self, ids, labeled):
            seen["rows"], seen["labeled"] = len(ids), list(labeled)
            return np.flatnonzero(~np.asarray(labeled))[::-1]  # pretend: reverse order

    assert ranked("typical", Typical(PROBS, emb=emb)) == [4, 3, 2, 1, 5]
    assert seen == {"rows": 6, "labeled": [False, False, False, False, True, True]}
    assert ranked("typical", FakeModel(PROBS)) == [1, 2, 3, 4, 5]  # no embeddings: path order


def test_typical_first_before_a_model_ranks_a_sample_of_the_unlabeled_by_pixels(monkeypatch):
    """``Pixels`` rank a stable random sample of the unlabeled images (the random order's
    first ones); the rest follow in that random order, never decoded."""
    monkeypatch.setattr(rankings, "PIXEL_SAMPLE", 3)
    asked: list[list[str]] = []

    def typical(paths):
        asked.append(list(paths))
        return [2, 0, 1][:len(paths)]

    shuffled = ranked("random", None)[:5]  # the unlabeled 1-5, shuffled by their paths
    assert sorted(shuffled) == [1, 2, 3, 4, 5] and shuffled != [1, 2, 3, 4, 5]
    got = ranked("typical", rankings.Pixels(typical))
    assert asked == [[f"{i:03d}.png" for i in shuffled[:3]]]
    assert got == [shuffled[2], shuffled[0], shuffled[1], *shuffled[3:]]
    with pytest.raises(ValueError, match="every sampled image once"):
        ranked("typical", rankings.Pixels(lambda paths: [0, 0, 1]))


def test_random_is_seeded_stable_and_keeps_unlabeled_first():
    first = ranked("random", None)
    assert first == ranked("random", None)
    assert set(first[:5]) == {1, 2, 3, 4, 5} and first[5] == 6 and set(first[6:]) == {7, 8}
    many = [row(i) for i in range(100)]
    shuffled = [it.id for it in OrderChoice("random").rank(many)]
    assert sorted(shuffled) == list(range(100)) and shuffled != list(range(100))


def test_model_orders_without_a_model_refuse_with_one_line():
    for name in ("least-confident", "margin", "entropy", "most-confident", "suspects"):
        with pytest.raises(UsageError, match="needs a model"):
            OrderChoice(name).rank(ROWS)
    assert ranked("random", None)  # random needs none
    # typical first needs none either: the unlabeled in path order until the pixels are read
    assert ranked("typical", None) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("text, expected", [
    ("predicted:dog", OrderChoice("predicted", 2)),
    ("confusion:cat:dog", OrderChoice("confusion", 1, 2)),
    ("confusion:a:b:cat", OrderChoice("confusion", 3, 1)),  # a class name with a colon
    ("confusion:cat:a:b", OrderChoice("confusion", 1, 3)),
    ("confusion:b:b", OrderChoice("confusion", 4, 4)),
    ("least-confident", OrderChoice("least-confident")),
    ("random", OrderChoice("random")),
])
def test_parse_model_orders(text: str, expected: OrderChoice):
    assert orders.parse(text, CLASSES) == expected
    names = {c.id: c.name for c in CLASSES}
    assert orders.parse(orders.text_of(expected, names), CLASSES) == expected


@pytest.mark.parametrize("text, fragment", [
    ("confusion:cat", "write confusion:TRUE:PREDICTED"),
    ("confusion:cat:cow", "no two classes"),
    ("confusion", "choose"),
    ("predicted:cow", "no class named 'cow'"),
    ("margin:cat", "choose"),
])
def test_parse_refuses_bad_model_orders(text: str, fragment: str):
    with pytest.raises(UsageError, match=fragment):
        orders.parse(text, CLASSES)


def test_choices_offer_model_orders_only_with_a_model_and_no_confusion_pairs():
    names = {c.id: c.name for c in CLASSES}
    without = [c.name for c in orders.choices(CLASSES)]
    assert "random" in without and "margin" not in without and "predicted" not in without
    with_model = orders.choices(CLASSES, has_model=True)
    texts = [c.describe(names) for c in with_model]
    assert "Predicted as dog" in texts and "Suspect labels" in texts
    assert all(c.name != "confusion" for c in with_model)
    assert OrderChoice("confusion", 1, 2).describe(names) == "Labeled cat, predicted dog"


def test_cycle_goes_through_the_orders_without_a_class():
    ring = [OrderChoice("unlabeled")]
    for _ in range(20):
        ring.append(orders.cycle(ring[-1], 1, has_model=True))
        if ring[-1] == ring[0]:
            break
    names = [c.name for c in ring[:-1]]
    assert names == ["unlabeled", "all", "skipped", "random", "least-confident", "margin",
                     "entropy", "most-confident", "typical", "duplicates", "suspects"]
    assert orders.cycle(OrderChoice("unlabeled"), -1, has_model=True).name == "suspects"
    assert orders.cycle(OrderChoice("skipped"), 1, has_model=False).name == "random"
    assert orders.cycle(OrderChoice("random"), 1, has_model=False).name == "typical"
    assert orders.cycle(OrderChoice("typical"), 1, has_model=False).name == "unlabeled"
    assert orders.cycle(OrderChoice("class", 1), 1, has_model=False).name == "unlabeled"

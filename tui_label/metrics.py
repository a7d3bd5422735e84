"""Classification metrics from a confusion matrix. Pure Python: used by the trainer and the
panel alike, and tested against hand-computed values.

``confusion[t][p]`` counts images of true class ``t`` predicted as ``p``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    accuracy: float
    macro_f1: float
    per_class: list[ClassMetrics]
    confusion: list[list[int]]

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": [asdict(c) for c in self.per_class],
            "confusion": self.confusion,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        return cls(data["accuracy"], data["macro_f1"],
                   [ClassMetrics(**c) for c in data["per_class"]], data["confusion"])


def confusion_matrix(targets: Sequence[int], predictions: Sequence[int], n: int) -> list[list[int]]:
    matrix = [[0] * n for _ in range(n)]
    for t, p in zip(targets, predictions, strict=True):
        matrix[t][p] += 1
    return matrix


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def report(confusion: list[list[int]], names: Sequence[str]) -> Report:
    """Accuracy, per-class precision / recall / F1 / support, and macro-F1.

    A class never predicted has precision 0, one never present recall 0 (as scikit-learn's
    ``zero_division=0``). Macro-F1 averages over the classes that occur in the validation set,
    so a class with no validation images does not pull the average to zero.
    """
    n = len(names)
    total = sum(map(sum, confusion))
    correct = sum(confusion[k][k] for k in range(n))
    per_class = []
    for k in range(n):
        tp = confusion[k][k]
        predicted = sum(confusion[t][k] for t in range(n))
        support = sum(confusion[k])
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        f1 = _ratio(2 * precision * recall, precision + recall)
        per_class.append(ClassMetrics(names[k], precision, recall, f1, support))
    present = [c.f1 for c in per_class if c.support > 0]
    return Report(_ratio(correct, total), _ratio(sum(present), len(present)), per_class, confusion)

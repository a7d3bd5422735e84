"""Classification metrics. Pure Python: used by the trainer and the panel alike, and tested
against hand-computed values.

Single-label: from a confusion matrix, ``confusion[t][p]`` counts images of true class ``t``
predicted as ``p``. Multi-label (``multi_label_report``): per-class counts of true positives,
false positives and false negatives at a probability threshold; an image may hold several
classes or none, so there is no confusion matrix.
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
    # Multi-label only: the counts at the threshold (None in a single-label report).
    tp: int | None = None
    fp: int | None = None
    fn: int | None = None


@dataclass(frozen=True)
class Report:
    """One epoch's validation metrics.

    ``accuracy`` is the share of images whose prediction is right: single-label, the top class
    is the label; multi-label, the exact-match (subset) accuracy: the predicted set equals the
    labeled set. A multi-label report has a ``threshold`` and a ``micro_f1``, and no
    ``confusion`` (an empty list).
    """

    accuracy: float
    macro_f1: float
    per_class: list[ClassMetrics]
    confusion: list[list[int]]
    threshold: float | None = None  # multi-label: a class is predicted at this probability
    micro_f1: float | None = None  # multi-label: F1 of the counts summed over the classes

    @property
    def multi_label(self) -> bool:
        return self.threshold is not None

    def to_dict(self) -> dict:
        data = {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": [_without_none(asdict(c)) for c in self.per_class],
            "confusion": self.confusion,
        }
        if self.multi_label:  # a single-label report keeps its keys (events, stored rows)
            data.update(threshold=self.threshold, micro_f1=self.micro_f1)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        return cls(data["accuracy"], data["macro_f1"],
                   [ClassMetrics(**c) for c in data["per_class"]], data["confusion"],
                   data.get("threshold"), data.get("micro_f1"))


def _without_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


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


def multi_label_report(targets: Sequence[Sequence[int]], probabilities: Sequence[Sequence[float]],
                       names: Sequence[str], threshold: float = 0.5) -> Report:
    """Multi-label metrics: image ``i`` holds class ``k`` when ``targets[i][k]`` is 1, and the
    model predicts it when ``probabilities[i][k] >= threshold``.

    Per class: precision, recall and F1 from its true positives, false positives and false
    negatives (0 where undefined, as in ``report``), support = images that hold it. Macro-F1
    averages the classes with support; micro-F1 is the F1 of the counts summed over classes;
    accuracy is the exact-match (subset) accuracy, an image with no class included (it is
    right when no class reaches the threshold).
    """
    n = len(names)
    tp, fp, fn = [0] * n, [0] * n, [0] * n
    exact = 0
    for truth, probs in zip(targets, probabilities, strict=True):
        right = True
        for k in range(n):
            held, said = bool(truth[k]), probs[k] >= threshold
            tp[k] += held and said
            fp[k] += said and not held
            fn[k] += held and not said
            right = right and held == said
        exact += right
    per_class = []
    for k in range(n):
        precision, recall = _ratio(tp[k], tp[k] + fp[k]), _ratio(tp[k], tp[k] + fn[k])
        f1 = _ratio(2 * precision * recall, precision + recall)
        per_class.append(ClassMetrics(names[k], precision, recall, f1, tp[k] + fn[k],
                                      tp[k], fp[k], fn[k]))
    present = [c.f1 for c in per_class if c.support > 0]
    micro = _ratio(2 * sum(tp), 2 * sum(tp) + sum(fp) + sum(fn))
    return Report(_ratio(exact, len(targets)), _ratio(sum(present), len(present)), per_class,
                  [], threshold, micro)

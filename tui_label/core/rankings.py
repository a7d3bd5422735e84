"""The orders that rank by a model: uncertainty, confidence, the predicted class, typical
first, duplicates, suspect labels and a confusion cell (``tui_label.core.orders`` names them).

Each takes plain rows the store hands it and a ``ModelScores`` (what ``ModelView`` offers).
numpy is imported when one runs: the labeler and the CLI start without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from typing import Any, Protocol

from tui_label.core.hashing import unit_hash
from tui_label.core.types import QueueItem, QueueRow


class ModelScores(Protocol):
    """What a model-based order reads (see ``tui_label.assist.model_view``): the model's view
    of images.

    ``probs(ids)`` gives an ``len(ids) x C`` array with a row of NaN for an image the model
    has not seen; ``column_classes[c]`` is today's class id of column ``c`` (None: a class
    that no longer exists); ``embeddings(ids)`` is ``len(ids) x D`` (NaN rows where none) or
    None; ``suspects`` are image ids, most doubtful label first; ``run_id`` names the model;
    ``duplicate_groups()`` are the image ids of each group of near copies by the embeddings
    (two or more each, disjoint), largest group first.
    """

    @property
    def run_id(self) -> int: ...

    @property
    def column_classes(self) -> list[int | None]: ...

    @property
    def suspects(self) -> Sequence[int]: ...

    def probs(self, ids: Sequence[int]) -> Any: ...

    def oof_probs(self, ids: Sequence[int]) -> Any:
        """Out-of-sample probabilities (same columns; NaN rows where none)."""
        ...

    def embeddings(self, ids: Sequence[int]) -> Any: ...

    def typical_first(self, ids: Sequence[int], labeled: Any) -> Any:
        """Positions of the unlabeled ones of ``ids`` (``labeled``: a mask), most typical
        first: TypiClust, which the labeler's model runs in the live head's process."""

    def duplicate_groups(self) -> Sequence[Sequence[int]]: ...


@dataclass(frozen=True)
class Pixels:
    """What typical first reads before any model exists: ``typical(paths)`` gives positions
    of ``paths`` (unlabeled images), most typical first by their own pixels (TypiClust on
    thumbnails, ``tui_label.assist.pixels``, which the labeler runs in the live head's
    process)."""

    typical: Callable[[list[str]], Sequence[int]]


# Before any model, typical first decodes a thumbnail of this many unlabeled images (a stable
# random sample; the rest follow it, shuffled the same way): a cold start needs tens of
# well-spread images, and a million decodes would take hours.
PIXEL_SAMPLE = 1000
RANDOM_SEED = "tui-label"  # the random order's: a path's place is the same in both

# ``class_id`` is the chosen class, or ``(true, predicted)`` for an order that needs a pair;
# the third argument is a ``ModelScores``, ``Pixels`` (typical first only) or None.
Rank = Callable[[Sequence[QueueRow], Any, Any], list[QueueItem]]


def items(rows: Iterable[Sequence]) -> list[QueueItem]:
    """Queue items from rows (id and path first): the fastest way to build 100,000 of them."""
    return list(map(_NEW_ITEM, map(_ID_PATH, rows)))


_ID_PATH = itemgetter(0, 1)
_NEW_ITEM = partial(tuple.__new__, QueueItem)  # no Python frame per item


def _is_unlabeled(row: Sequence) -> bool:
    return row[2] is None or row[2] == "clear"


def _ranked(rows: Sequence[Sequence], key: Any) -> list[QueueItem]:
    """``rows`` by ``key`` ascending (stable: ties keep path order); NaN keys go last."""
    import numpy as np  # heavy: the labeler starts without numpy

    key = np.asarray(key, dtype=np.float64)
    order = np.argsort(np.where(np.isnan(key), np.inf, key), kind="stable")
    return items(rows[i] for i in order.tolist())


def _unlabeled_probs(rows: Sequence[QueueRow], model: ModelScores) -> tuple[list, Any]:
    """The unlabeled rows and their probabilities (NaN rows: no prediction)."""
    import numpy as np  # heavy: the labeler starts without numpy

    todo = [r for r in rows if _is_unlabeled(r)]
    probs = np.asarray(model.probs([r[0] for r in todo]), dtype=np.float64)
    return todo, probs.reshape(len(todo), len(model.column_classes))


def _known_top(probs: Any, model: ModelScores) -> tuple[Any, Any]:
    """Each row's most probable class among today's classes: (column, probability)."""
    import numpy as np  # heavy: the labeler starts without numpy

    known = np.array([c is not None for c in model.column_classes], dtype=bool)
    masked = np.where(known[None, :], probs, -np.inf) if len(probs) else probs
    if not masked.size:
        return np.zeros(len(probs), dtype=np.int64), np.full(len(probs), np.nan)
    nan_rows = np.isnan(probs).any(axis=1)
    col = np.argmax(np.where(np.isnan(masked), -np.inf, masked), axis=1)
    top = np.take_along_axis(probs, col[:, None], axis=1)[:, 0]
    top = np.where(nan_rows | ~known[col], np.nan, top)
    return col, top


def uncertainty(score: Callable[[Any], Any], descending: bool) -> Rank:
    def rank(rows: Sequence[QueueRow], class_id: int | None,
             model: ModelScores | None = None) -> list[QueueItem]:
        import numpy as np  # heavy: the labeler starts without numpy

        assert model is not None
        todo, probs = _unlabeled_probs(rows, model)
        seen = ~np.isnan(probs).any(axis=1) if probs.size else np.zeros(len(todo), bool)
        scores = np.full(len(todo), np.nan)
        if seen.any():
            scores[seen] = score(probs[seen])
        return _ranked(todo, -scores if descending else scores)

    return rank


def most_confident(rows: Sequence[QueueRow], class_id: int | None,
                    model: ModelScores | None = None) -> list[QueueItem]:
    assert model is not None
    todo, probs = _unlabeled_probs(rows, model)
    _col, top = _known_top(probs, model)
    return _ranked(todo, -top)


def predicted(rows: Sequence[QueueRow], class_id: int | None,
               model: ModelScores | None = None) -> list[QueueItem]:
    """Unlabeled images whose top class (among today's) is ``class_id``, surest first."""
    import numpy as np  # heavy: the labeler starts without numpy

    assert model is not None
    todo, probs = _unlabeled_probs(rows, model)
    col, top = _known_top(probs, model)
    columns = np.array([-1 if c is None else c for c in model.column_classes], dtype=np.int64)
    hit = ~np.isnan(top) & (columns[col] == class_id) if len(todo) else np.zeros(0, bool)
    picked = np.flatnonzero(hit)
    return _ranked([todo[i] for i in picked.tolist()], -top[picked])


def typical(rows: Sequence[QueueRow], class_id: int | None,
            model: ModelScores | Pixels | None = None) -> list[QueueItem]:
    """Unlabeled images, the most typical of each cluster of embeddings first (TypiClust);
    images without embeddings after them, in path order. Before any model (``Pixels``): by
    the pixels of a sample of them; without either (the queue until the pixels are read):
    unlabeled in path order."""
    import numpy as np  # heavy: the labeler starts without numpy

    if model is None:
        return items(r for r in rows if _is_unlabeled(r))
    if isinstance(model, Pixels):
        return _typical_pixels(rows, model)
    emb = model.embeddings([r[0] for r in rows])
    if emb is None:
        return items(r for r in rows if _is_unlabeled(r))
    emb = np.asarray(emb, dtype=np.float32)
    has = ~np.isnan(emb).any(axis=1) if emb.size else np.zeros(len(rows), bool)
    unlabeled = np.array([_is_unlabeled(r) for r in rows], dtype=bool)
    index = np.flatnonzero(has)
    picked = model.typical_first([rows[i][0] for i in index.tolist()], ~unlabeled[index])
    first = [rows[i] for i in index[picked].tolist() if unlabeled[i]]
    rest = [r for i, r in enumerate(rows) if unlabeled[i] and not has[i]]
    return items(first + rest)


def _typical_pixels(rows: Sequence[QueueRow], pixels: Pixels) -> list[QueueItem]:
    todo = sorted((r for r in rows if _is_unlabeled(r)),
                  key=lambda r: unit_hash(f"{RANDOM_SEED}:{r[1]}"))
    sample = todo[:PIXEL_SAMPLE]
    picked = [int(i) for i in pixels.typical([r[1] for r in sample])]
    if sorted(picked) != list(range(len(sample))):
        raise ValueError("the pixel ranking must give every sampled image once")
    return items([sample[i] for i in picked] + todo[PIXEL_SAMPLE:])


def duplicates(rows: Sequence[QueueRow], class_id: int | None,
               model: ModelScores | None = None) -> list[QueueItem]:
    """The unlabeled images of the model's duplicate groups, one group after another (to label
    a group at once): the group with the most unlabeled images first, then the larger group,
    the order of ``duplicate_groups`` among equals; a group's labeled images are left out."""
    assert model is not None
    todo = {r[0]: r for r in rows if _is_unlabeled(r)}
    groups = [(sum(i in todo for i in g), len(g), [todo[i] for i in g if i in todo])
              for g in model.duplicate_groups()]
    groups.sort(key=lambda g: (-g[0], -g[1]))  # stable: equal groups keep their order
    return items(r for _n, _size, members in groups for r in members)


def suspects(rows: Sequence[QueueRow], class_id: int | None,
              model: ModelScores | None = None) -> list[QueueItem]:
    """Labeled images whose label the out-of-sample model doubts, most doubtful first."""
    assert model is not None
    labeled = {r[0]: r for r in rows if r[2] == "label"}
    return items(labeled[i] for i in model.suspects if i in labeled)


def _review_tops(rows: Sequence[QueueRow], model: ModelScores, true_id: int | None = None
                 ) -> tuple[list, Any, Any, Any]:
    """The labeled rows (of ``true_id``, or all), each one's predicted class id (-1: none),
    its probability and whether it is out of sample: by the out-of-sample probabilities where
    there are, else the model's. The confusion order and its counts both read this."""
    import numpy as np  # heavy: the labeler starts without numpy

    todo = [r for r in rows if r[2] == "label" and (true_id is None or r[3] == true_id)]
    ids = [r[0] for r in todo]
    width = len(model.column_classes)
    probs = np.asarray(model.probs(ids), dtype=np.float64).reshape(len(ids), width)
    oof = np.asarray(model.oof_probs(ids), dtype=np.float64).reshape(len(ids), width)
    have_oof = ~np.isnan(oof).any(axis=1) if oof.size else np.zeros(len(ids), bool)
    probs[have_oof] = oof[have_oof]
    col, top = _known_top(probs, model)
    columns = np.array([-1 if c is None else c for c in model.column_classes], dtype=np.int64)
    predicted = np.where(np.isnan(top), -1, columns[col]) if len(todo) \
        else np.zeros(0, np.int64)
    return todo, predicted, top, have_oof


def confusion(rows: Sequence[QueueRow], pair: tuple[int, int] | None,
               model: ModelScores | None = None) -> list[QueueItem]:
    """Images labeled as the pair's true class whose out-of-sample (else the model's) top
    class is the pair's predicted class, surest first."""
    import numpy as np  # heavy: the labeler starts without numpy

    assert model is not None and pair is not None
    true_id, predicted_id = pair
    todo, predicted, top, _oof = _review_tops(rows, model, true_id)
    picked = np.flatnonzero(predicted == predicted_id)
    return _ranked([todo[i] for i in picked.tolist()], -top[picked])


@dataclass(frozen=True)
class ConfusionCounts:
    """How many images each ``confusion`` order holds: ``cells[(true id, predicted id)]``,
    over the ``images`` labeled images the model predicts (``out_of_sample`` of them by the
    out-of-sample probabilities)."""

    cells: dict[tuple[int, int], int]
    images: int
    out_of_sample: int

    def matrix(self, class_ids: Sequence[int]) -> list[list[int]]:
        """Rows true, columns predicted, in ``class_ids`` order."""
        return [[self.cells.get((t, p), 0) for p in class_ids] for t in class_ids]


def confusion_counts(rows: Sequence[QueueRow], model: ModelScores) -> ConfusionCounts:
    """The images of every cell ``confusion`` ranks, counted the same way (same rows, same
    probabilities): a cell's count is the length of its order's queue."""
    todo, predicted, _top, have_oof = _review_tops(rows, model)
    cells: dict[tuple[int, int], int] = {}
    for row, p in zip(todo, predicted.tolist(), strict=True):
        if p >= 0:
            cells[(row[3], p)] = cells.get((row[3], p), 0) + 1
    return ConfusionCounts(cells, sum(cells.values()),
                           int(have_oof[predicted >= 0].sum()) if len(todo) else 0)

"""Out-of-sample probabilities of the labeled images and the suspect labels they point at.

The probabilities come from a cross-validated linear head on a run's embeddings or, with
``--folds K``, from K fine-tuned models (``folds``); the suspects from confident learning
(``tui_label.assist.suspects``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tui_label.assist import live_head
from tui_label.assist.suspects import rank_suspects
from tui_label.core.hashing import unit_hash
from tui_label.store import Store

OOF_FOLDS = 5  # folds of the linear head, fewer when a class has fewer labels


@dataclass
class Labeled:
    """The labeled images a run can judge: ``columns[k]`` is image ``ids[k]``'s label as the
    run's column (labels of classes the run does not know are left out)."""

    ids: np.ndarray
    columns: np.ndarray
    paths: list[str] = field(default_factory=list)

    def where(self, keep: np.ndarray) -> Labeled:
        """The images ``keep`` marks."""
        return Labeled(self.ids[keep], self.columns[keep],
                       [p for p, ok in zip(self.paths, keep, strict=True) if ok])


def labeled_images(store: Store, class_ids: Sequence[int | None]) -> Labeled:
    """The current labels of readable images, as the run's columns, by image id."""
    column_of = {cid: k for k, cid in enumerate(class_ids) if cid is not None}
    items = sorted((it for it in store.training_items() if it.class_id in column_of),
                   key=lambda it: it.image_id)
    return Labeled(np.asarray([it.image_id for it in items], dtype=np.int64),
                   np.asarray([column_of[it.class_id] for it in items], dtype=np.int64),
                   [it.path for it in items])


def assign_folds(columns: np.ndarray, keys: Sequence[str], k: int) -> np.ndarray:
    """A fold per labeled image, stratified by class and stable per image (the hash of its
    path orders each class; classes continue where the previous one stopped, so small
    classes do not all land in fold 0)."""
    folds = np.zeros(len(columns), dtype=np.int64)
    offset = 0
    for column in np.unique(columns):
        members = np.flatnonzero(columns == column)
        ranked = sorted(members.tolist(), key=lambda i: unit_hash(keys[i]))
        for rank, i in enumerate(ranked):
            folds[i] = (offset + rank) % k
        offset += len(ranked)
    return folds


def linear_oof(embeddings: np.ndarray, columns: np.ndarray, num_columns: int,
               wanted_folds: int = OOF_FOLDS) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Out-of-sample probabilities from a cross-validated linear head on the embeddings.

    Returns ``(keep, probs, reason)``: ``keep`` marks the images that got probabilities (a
    class with a single label cannot be held out, so its image gets none), ``probs`` is
    ``keep.sum() x num_columns``; ``reason`` says why there are none (fewer than two classes
    with two labels), else None.
    """
    counts = np.bincount(columns, minlength=num_columns)
    keep = counts[columns] >= 2 if len(columns) else np.zeros(0, dtype=bool)
    present = np.flatnonzero(counts >= 2)
    if len(present) < 2:
        return (np.zeros(len(columns), dtype=bool), np.zeros((0, num_columns), np.float32),
                "too few labels for out-of-sample probabilities: at least 2 classes need 2 "
                "labels")
    # At most ``wanted_folds``, fewer when a class has fewer labels (live_head.oof_folds);
    # scikit-learn is loaded only there.
    probs = live_head.fit_predict_oof(np.asarray(embeddings[keep], dtype=np.float32),
                                      columns[keep], num_classes=num_columns,
                                      folds=wanted_folds)
    return keep, np.asarray(probs, dtype=np.float32), None


def given_oof(labeled: Labeled, oof: tuple[np.ndarray, np.ndarray],
              num_columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``--folds``' ``(ids, probs)`` for the images of ``labeled`` that have them: ``(ids,
    columns, probs)`` in ``labeled``'s order."""
    oof_ids, oof_probs = oof
    position = {image_id: k for k, image_id in enumerate(np.asarray(oof_ids).tolist())}
    take = np.asarray([i in position for i in labeled.ids.tolist()], dtype=bool)
    ids = labeled.ids[take]
    probs = np.asarray(oof_probs, dtype=np.float32)[
        [position[i] for i in ids.tolist()]].reshape(len(ids), num_columns)
    return ids, labeled.columns[take], probs


def suspect_rows(ids: np.ndarray, columns: np.ndarray, oof_probs: np.ndarray,
                 class_ids: Sequence[int | None]) -> list[dict]:
    """Rows for ``Store.save_suspects``: the labels the out-of-sample model doubts, ranked
    (confident learning, through ``suspects.rank_suspects``); pairs with a class gone are
    left out."""
    if len(ids) == 0:
        return []
    rows = rank_suspects(columns, oof_probs, ids, list(class_ids))
    return [r for r in rows if r["given_class"] is not None and r["predicted_class"] is not None]


def warm_up() -> None:
    """Import scikit-learn (about 2 s) ahead of time: the epoch loop calls this in a thread
    while the run trains, so its predictions are not held up at the end."""
    import sklearn.linear_model  # noqa: F401  # heavy: scikit-learn, loaded ahead in a thread
    import sklearn.model_selection  # noqa: F401  # heavy: as above

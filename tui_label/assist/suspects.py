"""Suspect labels: labeled images whose out-of-sample probabilities doubt the given label.

``rank_suspects`` returns rows for ``Store.save_suspects``: the labels confident learning
(Northcutt et al. 2021, the method of cleanlab's ``find_label_issues``) flags, together with
every label whose out-of-sample top class is another class, all ranked by self-confidence (the
out-of-sample probability of the given label, lowest first).

Why not cleanlab: it needs pandas, and sqlite-utils (the store) imports pandas whenever it is
installed: installing cleanlab added about 0.3 s to the labeler's start-up imports (0.56-0.63 s
without pandas, 0.82-0.93 s with it), against an open-to-first-image target of 1 s. Confident
learning's filter is a few lines of numpy (``confident_learning_issues``, tested on
hand-worked cases; on the benchmark's data it flags what cleanlab's
``filter_by="confident_learning"`` flags).

Why not the confident-learning flags alone: the embeddings come from a model trained on these
very labels, so a wrong label pulls its image's embedding towards the wrong class. The image is
then rarely *confidently* its true class (above that class's threshold), though its true class
still tops the out-of-sample probabilities. On the sample digits with 5% of labels flipped, the
flags alone put 28-80% of them in the top 10% of the queue, the union 88-100% (BENCHMARKS.md).

The probabilities must be out of sample (``live_head.fit_predict_oof``): a model that was
trained on a label agrees with it. numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rank_suspects(labels: np.ndarray, pred_probs: np.ndarray, image_ids: Sequence[int],
                  class_ids: Sequence[int | None], *, limit: int | None = None) -> list[dict]:
    """Rows for ``Store.save_suspects``, most doubtful label first.

    Suspects: confident learning's label issues and every label whose most probable class is
    another, ranked by the probability of the given label (lowest first; ties in input order).
    ``labels``: N given labels as column indices of ``pred_probs`` (N x C out-of-sample
    probabilities, columns in the run's class order). ``class_ids``: today's class id of each
    column, None for a class that no longer exists. Each row: ``image_id, rank (0 first),
    given_class, predicted_class`` (the model's most likely other class), ``probability`` (of
    the predicted class) and ``given_probability``. Fewer than 2 classes among the labels: no
    suspects (there is nothing to confuse). Rows whose given class is gone are left out.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(pred_probs, dtype=np.float64)
    ids = np.asarray(image_ids, dtype=np.int64)
    n = len(labels)
    if probs.ndim != 2 or len(probs) != n or len(ids) != n or probs.shape[1] != len(class_ids):
        raise ValueError(f"labels ({n}), probabilities {probs.shape}, image ids ({len(ids)}) "
                         f"and class ids ({len(class_ids)}) do not match")
    if n and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"labels must be column indices in 0..{probs.shape[1] - 1}")
    known = np.array([c is not None for c in class_ids], dtype=bool)
    keep = np.flatnonzero(known[labels]) if n else np.empty(0, np.int64)
    present = np.unique(labels[keep])
    if len(present) < 2 or known.sum() < 2:
        return []

    # Confident learning needs a threshold per column, from the labels of its class: keep the
    # columns of the classes present and spread each row's remaining probability over them.
    sub = probs[np.ix_(keep, present)]
    total = sub.sum(axis=1, keepdims=True)
    sub = np.where(total > 0, sub / np.where(total > 0, total, 1), 1.0 / len(present))
    given = np.searchsorted(present, labels[keep])
    rows = np.arange(len(given))
    others = sub.copy()
    others[rows, given] = -1.0
    # Strictly: a tie with the given label is no disagreement.
    outvoted = np.flatnonzero(others.max(axis=1) > sub[rows, given])
    doubted = np.union1d(confident_learning_issues(given, sub), outvoted)
    self_confidence = sub[doubted, given[doubted]]
    ranked = keep[doubted[np.argsort(self_confidence, kind="stable")]]
    if limit is not None:
        ranked = ranked[:limit]

    # The suggested class: the most likely known class other than the given one.
    alt = np.where(known[None, :], probs[ranked], -1.0)
    alt[np.arange(len(ranked)), labels[ranked]] = -1.0
    predicted = alt.argmax(axis=1)
    return [{"image_id": int(ids[i]), "rank": rank, "given_class": class_ids[labels[i]],
             "predicted_class": class_ids[p], "probability": float(probs[i, p]),
             "given_probability": float(probs[i, labels[i]])}
            for rank, (i, p) in enumerate(zip(ranked.tolist(), predicted.tolist(), strict=True))]


def confident_learning_issues(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Confident learning's basic filter, ranked by self-confidence (lowest first).

    Class j's threshold ``t_j`` is the mean probability of j over the images labeled j. An
    image is *confidently* class j when ``p_j >= t_j``; among such classes it counts as its
    most probable one. A label is an issue when the image is confidently some other class
    than its label. Ties in self-confidence keep row order. Every class in ``labels`` needs a
    column; columns with no labels get a threshold of 1 (rarely confident).
    """
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(pred_probs, dtype=np.float64)
    if len(labels) == 0:
        return np.empty(0, dtype=np.int64)
    classes = probs.shape[1]
    counts = np.bincount(labels, minlength=classes)
    sums = np.zeros(classes)
    np.add.at(sums, labels, probs[np.arange(len(labels)), labels])
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)
    confident = probs >= thresholds[None, :] - 1e-12
    masked = np.where(confident, probs, -1.0)
    assigned = masked.argmax(axis=1)
    issue = confident.any(axis=1) & (assigned != labels)
    rows = np.flatnonzero(issue)
    self_confidence = probs[rows, labels[rows]]
    return rows[np.argsort(self_confidence, kind="stable")]

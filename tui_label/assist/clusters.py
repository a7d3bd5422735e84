"""Clusters of a run's embeddings, for labeling many images at once: k-means (as typical-first
clusters, ``assist.typiclust.clusters_of``), each cluster described by the class the model
predicts for most of it (its purity: that class's share), how many of its images are labeled
and whether those labels agree with the prediction.

Clusters are listed by the number of images their majority class covers (size x purity),
largest first: a big pure cluster is the one where one decision labels the most images.
Members are listed nearest the centre first (the most typical images).

numpy and scikit-learn (imported on call): run in a command or a worker, never on the
labeler's UI thread. No SQL: the caller reads the store.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tui_label.assist.typiclust import MAX_CLUSTERS, clusters_of


@dataclass(frozen=True)
class Cluster:
    number: int  # 1, 2, ... in the listed order
    image_ids: tuple[int, ...]  # nearest the centre first
    predicted: str  # the class the model predicts for most of its images
    purity: float  # the share of its images predicted as ``predicted``
    labeled: int  # images of it that carry a label
    agreeing: int  # of those, labeled as ``predicted``

    @property
    def size(self) -> int:
        return len(self.image_ids)

    def to_dict(self) -> dict:
        return {"cluster": self.number, "size": self.size, "predicted": self.predicted,
                "purity": round(self.purity, 4), "labeled": self.labeled,
                "agreeing": self.agreeing, "image_ids": list(self.image_ids)}


def default_clusters(n: int) -> int:
    """About sqrt(n / 2) clusters (16 for 500 images, 224 for 100,000), between 2 and 500."""
    return max(2, min(MAX_CLUSTERS, round(math.sqrt(n / 2)))) if n > 1 else 1


def cluster_images(ids: Sequence[int], embeddings: np.ndarray, probs: np.ndarray,
                   class_names: Sequence[str], labels: Mapping[int, str], *,
                   k: int | None = None, seed: int = 0) -> list[Cluster]:
    """The clusters of the images ``ids`` (rows of ``embeddings`` and ``probs``, columns of
    ``probs`` in ``class_names`` order); ``labels`` gives the class name of labeled images."""
    n = len(ids)
    if n == 0:
        return []
    if embeddings.shape[0] != n or probs.shape != (n, len(class_names)):
        raise ValueError(f"{n} images, embeddings {embeddings.shape}, probs {probs.shape}")
    assign, distance = clusters_of(embeddings, k or default_clusters(n), seed)
    return describe(ids, assign, distance, probs, class_names, labels)


def cluster_rows(embeddings_path: str, rows: np.ndarray, k: int,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``clusters_of`` on rows ``rows`` of a run's embeddings file (opened memory-mapped):
    what the labeler runs in the live head's process, where scikit-learn may load."""
    embeddings = np.load(embeddings_path, mmap_mode="r")
    return clusters_of(np.asarray(embeddings[rows], dtype=np.float32), k, seed)


def describe(ids: Sequence[int], assign: np.ndarray, distance: np.ndarray, probs: np.ndarray,
             class_names: Sequence[str], labels: Mapping[int, str]) -> list[Cluster]:
    """The clusters of a k-means assignment, described and ordered (numpy only)."""
    predicted = np.nan_to_num(np.asarray(probs, dtype=np.float32), nan=-1.0).argmax(axis=1)
    found = []
    for c in np.unique(assign):
        rows = np.flatnonzero(assign == c)
        rows = rows[np.argsort(distance[rows], kind="stable")]
        votes = Counter(predicted[rows].tolist())
        top, count = min(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        members = tuple(int(ids[int(r)]) for r in rows)
        given = [labels[i] for i in members if i in labels]
        found.append((count, len(rows), members, class_names[top], count / len(rows),
                      len(given), sum(g == class_names[top] for g in given)))
    found.sort(key=lambda f: (-f[0], -f[1], f[2]))
    return [Cluster(number, *f[2:]) for number, f in enumerate(found, 1)]

"""Typical first: which unlabeled images to label when there are few labels (TypiClust).

Uncertainty sampling needs a model worth asking; with a handful of labels it loses to random
(Hacohen et al., "Active Learning on a Budget", 2022). TypiClust instead clusters the
embeddings into (labels + budget) clusters and labels the most *typical* image of each cluster
that has no label yet, largest cluster first. Typicality is the inverse of the mean distance
to the K nearest neighbours in the same cluster: an image from the dense middle of a mode of
the data, not an outlier.

After those picks the order goes on cluster by cluster, each cluster's images most typical
first, a cluster taking its next turn when it has the fewest labels for its size (labels
already given count), so the order stays spread over the data.

numpy and scikit-learn (imported on call). Runs in the live head's worker or the trainer, not on
the labeler's UI thread.
"""

from __future__ import annotations

import warnings

import numpy as np

DEFAULT_BUDGET = 20
# Bounds that keep a million images tractable: cluster on a sample, score typicality for the
# images nearest each centre against a sample of their cluster. Small data is exact.
MAX_CLUSTERS = 500
EXACT_KMEANS_ROWS = 10_000
KMEANS_SAMPLE = 100_000
# Wider embeddings are projected to this many principal components first (fitted on at most
# PCA_SAMPLE rows): k-means and the neighbour distances cost in proportion to the width, and
# 512 wide features hold far fewer useful directions.
MAX_DIMS = 64
PCA_SAMPLE = 10_000
CANDIDATES_PER_CLUSTER = 500
REFERENCE_PER_CLUSTER = 1_000
_CHUNK = 8192


def typical_first(embeddings: np.ndarray, labeled_mask: np.ndarray, budget: int | None = None,
                  k_neighbours: int = 20, seed: int = 0, *,
                  max_clusters: int = MAX_CLUSTERS,
                  candidates_per_cluster: int = CANDIDATES_PER_CLUSTER,
                  reference_per_cluster: int = REFERENCE_PER_CLUSTER) -> np.ndarray:
    """Row indices of the unlabeled rows of ``embeddings`` (N x D), typical first.

    ``labeled_mask``: N booleans, True for rows that already have a label. The embeddings are
    clustered into ``min(#labeled + budget, N, max_clusters)`` clusters (``budget`` defaults to
    20 or the number of unlabeled rows if fewer). Every unlabeled row appears exactly once.
    """
    x = np.asarray(embeddings, dtype=np.float32)
    labeled = np.asarray(labeled_mask, dtype=bool)
    if x.ndim != 2 or len(labeled) != len(x):
        raise ValueError(f"embeddings {x.shape} and labeled_mask ({len(labeled)}) do not match")
    n = len(x)
    unlabeled = int(n - labeled.sum())
    if unlabeled == 0:
        return np.empty(0, dtype=np.int64)
    budget = min(DEFAULT_BUDGET, unlabeled) if budget is None else max(1, int(budget))
    k = max(1, min(int(labeled.sum()) + budget, n, max_clusters))
    x = _project(x, seed)
    assign, centres = _cluster(x, k, seed)
    sizes = np.bincount(assign, minlength=k)
    labels_in = np.bincount(assign[labeled], minlength=k)
    dist_centre = _row_norms(x - centres[assign])

    rng = np.random.default_rng(seed)
    # Per unlabeled row: its turn inside its cluster (0 = most typical unlabeled row there).
    turn = np.zeros(n, dtype=np.int64)
    by_cluster = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[by_cluster], np.arange(k + 1))
    for c in range(k):
        members = by_cluster[bounds[c]:bounds[c + 1]]
        if len(members) == 0:
            continue
        typ = _typicality(x, members, dist_centre[members], k_neighbours,
                          candidates_per_cluster, reference_per_cluster, rng)
        # Most typical first; rows not scored (far from the centre in a huge cluster) follow
        # by distance to the centre.
        order = np.lexsort((dist_centre[members], -typ))
        ranked = members[order]
        ranked = ranked[~labeled[ranked]]
        turn[ranked] = np.arange(len(ranked))

    rows = np.flatnonzero(~labeled)
    cluster = assign[rows]
    # A cluster's next image waits until the cluster has the fewest labels for its size; among
    # clusters with no label, the largest goes first.
    share = (labels_in[cluster] + turn[rows]) / sizes[cluster]
    return rows[np.lexsort((rows, turn[rows], -sizes[cluster], share))]


def clusters_of(embeddings: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-means of ``embeddings`` (N x D) as typical-first does it (projected to MAX_DIMS
    principal components, mini-batch on a sample when big): each row's cluster and the
    distance of each row to its cluster's centre."""
    x = _project(np.asarray(embeddings, dtype=np.float32), seed)
    k = max(1, min(int(k), len(x)))
    assign, centres = _cluster(x, k, seed)
    return assign, _row_norms(x - centres[assign])


def _row_norms(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", v, v))


def _project(x: np.ndarray, seed: int) -> np.ndarray:
    """``x`` on its first MAX_DIMS principal components (unchanged when it is not wider)."""
    if x.shape[1] <= MAX_DIMS or len(x) <= MAX_DIMS:
        return x
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), min(len(x), PCA_SAMPLE), replace=False))]
    pca = PCA(n_components=MAX_DIMS, svd_solver="randomized", random_state=seed).fit(sample)
    return np.concatenate([pca.transform(x[i:i + _CHUNK]).astype(np.float32)
                           for i in range(0, len(x), _CHUNK)])


def _cluster(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cluster index of every row and the centres (k-means; mini-batch on a sample when big)."""
    if k == 1:
        return np.zeros(len(x), dtype=np.int64), x.mean(axis=0, keepdims=True)
    from sklearn.cluster import KMeans, MiniBatchKMeans

    with warnings.catch_warnings():
        # Fewer distinct points than clusters ("ConvergenceWarning"): some clusters repeat.
        warnings.simplefilter("ignore")
        if len(x) <= EXACT_KMEANS_ROWS:
            model = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x)
            return model.labels_.astype(np.int64), model.cluster_centers_.astype(np.float32)
        rng = np.random.default_rng(seed)
        sample = x[np.sort(rng.choice(len(x), min(len(x), KMEANS_SAMPLE), replace=False))]
        model = MiniBatchKMeans(n_clusters=k, n_init=1, random_state=seed,
                                batch_size=4096).fit(sample)
    centres = model.cluster_centers_.astype(np.float32)
    assign = np.concatenate([_nearest(x[i:i + _CHUNK], centres)
                             for i in range(0, len(x), _CHUNK)])
    return assign, centres


def _nearest(rows: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (centres * centres).sum(1)[None, :] - 2 * rows @ centres.T
    return d.argmin(axis=1).astype(np.int64)


def _typicality(x: np.ndarray, members: np.ndarray, dist_centre: np.ndarray, k_neighbours: int,
                max_candidates: int, max_reference: int, rng: np.random.Generator) -> np.ndarray:
    """1 / mean distance to the ``k_neighbours`` nearest members of the same cluster; -1 for
    members not scored (beyond the ``max_candidates`` nearest the centre), 0 for a lone one."""
    n = len(members)
    typ = np.full(n, -1.0)
    k = min(k_neighbours, n - 1)
    if k < 1:
        typ[:] = 0.0
        return typ
    cand = np.argsort(dist_centre, kind="stable")[:max_candidates]
    # The reference set holds every candidate (so each one's own zero distance can be dropped)
    # and, in a big cluster, a random sample of the others.
    others = np.setdiff1d(np.arange(n), cand, assume_unique=True)
    extra = max(0, min(len(others), max_reference - len(cand)))
    ref = np.concatenate([cand, rng.choice(others, extra, replace=False)]) if extra else cand
    a, b = x[members[cand]], x[members[ref]]
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    dist = np.sqrt(np.maximum(sq, 0))
    dist[np.arange(len(cand)), np.arange(len(cand))] = np.inf  # not its own neighbour
    k = min(k, len(ref) - 1)
    nearest = np.partition(dist, k - 1, axis=1)[:, :k]
    typ[cand] = 1.0 / (nearest.mean(axis=1) + 1e-12)
    return typ

"""Typical-first selection on constructed clusters."""

from __future__ import annotations

import numpy as np
import pytest

from tui_label.assist.typiclust import typical_first

CENTRES = np.array([[0, 0, 0, 0], [20, 0, 0, 0], [0, 20, 0, 0], [0, 0, 20, 0]], np.float32)
SIZES = [60, 45, 30, 20]  # blob 0 is the largest


def make_blobs(seed: int = 0):
    """Four well separated Gaussian blobs of different sizes, plus a far outlier or two."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + rng.normal(size=(n, 4)) for c, n in zip(CENTRES, SIZES, strict=True)])
    blob = np.repeat(np.arange(4), SIZES)
    # Shuffle so that file order says nothing.
    perm = rng.permutation(len(x))
    return x[perm].astype(np.float32), blob[perm]


def near_centre(x, blob, row, centre=None) -> bool:
    """Whether ``row`` is among the quarter of its blob closest to the blob's true centre
    (with 20-60 points in 4-d, the densest point is not always the very closest)."""
    members = np.flatnonzero(blob == blob[row])
    centre = CENTRES[blob[row]] if centre is None else centre
    dist = np.linalg.norm(x[members] - centre, axis=1)
    mine = np.linalg.norm(x[row] - centre)
    return (dist < mine).mean() <= 0.25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_picks_are_one_typical_image_per_blob_largest_first(seed):
    x, blob = make_blobs(seed)
    order = typical_first(x, np.zeros(len(x), bool), budget=4, seed=seed)
    first = order[:4]
    assert list(blob[first]) == [0, 1, 2, 3]  # one per blob, by size
    assert all(near_centre(x, blob, r) for r in first)


def test_a_blob_with_a_label_comes_last():
    x, blob = make_blobs()
    labeled = np.zeros(len(x), bool)
    labeled[np.flatnonzero(blob == 0)[0]] = True  # the largest blob already has a label
    order = typical_first(x, labeled, budget=3)
    assert list(blob[order[:4]]) == [1, 2, 3, 0]
    assert near_centre(x, blob, order[3])


def test_every_unlabeled_row_once_and_no_labeled_row():
    x, _ = make_blobs()
    labeled = np.zeros(len(x), bool)
    labeled[::7] = True
    order = typical_first(x, labeled)
    assert sorted(order.tolist()) == np.flatnonzero(~labeled).tolist()


def test_the_order_keeps_spreading_over_the_blobs():
    x, blob = make_blobs()
    order = typical_first(x, np.zeros(len(x), bool), budget=4)
    # After the first round, turns go by labels per size: the first 31 picks are close to
    # proportional to blob size (60:45:30:20), never all from one blob.
    counts = np.bincount(blob[order[:31]], minlength=4)
    assert counts.min() >= 3
    assert counts[0] > counts[3]


def test_outliers_come_after_typical_images():
    x, blob = make_blobs()
    x = np.vstack([x, [[10, 10, 10, 10]]]).astype(np.float32)  # far from every blob
    order = typical_first(x, np.zeros(len(x), bool), budget=4)
    assert np.flatnonzero(order == len(x) - 1)[0] >= 4


def test_deterministic_per_seed():
    x, _ = make_blobs()
    none = np.zeros(len(x), bool)
    np.testing.assert_array_equal(typical_first(x, none, seed=3), typical_first(x, none, seed=3))


def test_big_cluster_path_scores_a_sample_and_still_starts_typical():
    # Candidate and reference caps far below the blob sizes exercise the path used for a
    # million images: only the images nearest each centre are scored, against a sample.
    x, blob = make_blobs()
    order = typical_first(x, np.zeros(len(x), bool), budget=4, candidates_per_cluster=5,
                          reference_per_cluster=12, k_neighbours=5)
    assert list(blob[order[:4]]) == [0, 1, 2, 3]
    # Scored candidates are the 5 nearest the cluster's mean (20 points in the smallest blob).
    assert all(near_centre(x, blob, r, x[blob == blob[r]].mean(0)) for r in order[:4])
    assert sorted(order.tolist()) == list(range(len(x)))


@pytest.mark.parametrize("n, labeled_rows, expected", [
    (1, [], [0]),
    (3, [0, 1, 2], []),
    (3, [1], [0, 2]),
])
def test_tiny_inputs(n, labeled_rows, expected):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    labeled = np.zeros(n, bool)
    labeled[labeled_rows] = True
    assert sorted(typical_first(x, labeled).tolist()) == expected


def test_identical_points_and_float16():
    x = np.zeros((30, 3), np.float16)
    assert sorted(typical_first(x, np.zeros(30, bool)).tolist()) == list(range(30))


def test_mismatched_mask_is_refused():
    with pytest.raises(ValueError, match="do not match"):
        typical_first(np.zeros((4, 2)), np.zeros(3, bool))


def test_mini_batch_path_on_a_sample(monkeypatch):
    # Above EXACT_KMEANS_ROWS, mini-batch k-means fits on a sample and every row is assigned
    # to its nearest centre.
    import tui_label.assist.typiclust as typical

    monkeypatch.setattr(typical, "EXACT_KMEANS_ROWS", 50)
    monkeypatch.setattr(typical, "KMEANS_SAMPLE", 100)
    x, blob = make_blobs()
    order = typical.typical_first(x, np.zeros(len(x), bool), budget=4)
    assert sorted(blob[order[:4]].tolist()) == [0, 1, 2, 3]
    assert sorted(order.tolist()) == list(range(len(x)))


def test_wide_embeddings_are_projected_first(monkeypatch):
    # 200-wide embeddings whose blobs differ in 4 directions: after the projection onto the
    # leading components the picks are still one typical image per blob.
    import tui_label.assist.typiclust as typical

    monkeypatch.setattr(typical, "MAX_DIMS", 8)
    x, blob = make_blobs()
    rng = np.random.default_rng(5)
    wide = np.hstack([x, rng.normal(size=(len(x), 196))]).astype(np.float32)
    order = typical.typical_first(wide, np.zeros(len(x), bool), budget=4)
    assert list(blob[order[:4]]) == [0, 1, 2, 3]
    assert sorted(order.tolist()) == list(range(len(x)))

"""Clusters of embeddings for labeling many at once: which class, how pure, in which order."""

from __future__ import annotations

import numpy as np
import pytest

from tui_label.assist.clusters import cluster_images, default_clusters


def blobs():
    """Three tight blobs far apart: 30 images mostly predicted "cat" (27), 24 all "dog", 10
    all "bird"; ids 100.."""
    rng = np.random.default_rng(3)
    centres = np.array([[10.0, 0, 0, 0], [0, 10.0, 0, 0], [0, 0, 10.0, 0]])
    sizes, emb, probs = (30, 24, 10), [], []
    for blob, size in enumerate(sizes):
        for k in range(size):
            emb.append(centres[blob] + rng.normal(scale=0.3, size=4) * (1 + k / size))
            column = blob if not (blob == 0 and k >= 27) else 1
            probs.append(np.eye(3)[column] * 0.8 + 0.2 / 3)
    ids = list(range(100, 100 + sum(sizes)))
    return ids, np.array(emb, dtype=np.float16), np.array(probs, dtype=np.float32)


def test_clusters_come_largest_majority_first_with_purity_labels_and_typical_members():
    ids, emb, probs = blobs()
    labels = {100: "cat", 101: "dog", 130: "dog", 131: "dog"}
    first, second, third = cluster_images(ids, emb, probs, ["cat", "dog", "bird"], labels, k=3)
    assert (first.number, first.predicted, first.size) == (1, "cat", 30)
    assert first.purity == pytest.approx(27 / 30)
    assert (first.labeled, first.agreeing) == (2, 1)  # 101 was labeled dog
    assert (second.predicted, second.size, second.purity) == ("dog", 24, 1.0)
    assert (second.labeled, second.agreeing) == (2, 2)
    assert (third.predicted, third.size, third.labeled) == ("bird", 10, 0)
    # Members nearest the centre first: the blobs' noise grows with k, so early ids lead.
    assert set(first.image_ids) == set(range(100, 130))
    assert np.mean(first.image_ids[:10]) < np.mean(first.image_ids[-10:])


def test_the_order_is_by_the_images_one_decision_covers_not_by_size_alone():
    ids, emb, probs = blobs()
    probs[:30] = np.tile(np.array([0.4, 0.3, 0.3], np.float32), (30, 1))  # 30 cat...
    probs[:30:2] = np.array([0.3, 0.3, 0.4], np.float32)  # ...but half of them bird: 15 each
    clusters = cluster_images(ids, emb, probs, ["cat", "dog", "bird"], {}, k=3)
    assert [(c.predicted, c.size) for c in clusters] == [("dog", 24), ("cat", 30), ("bird", 10)]
    assert clusters[1].purity == 0.5


def test_default_cluster_counts_and_bad_shapes():
    assert [default_clusters(n) for n in (1, 2, 500, 100_000, 10**7)] == [1, 2, 16, 224, 500]
    ids, emb, probs = blobs()
    with pytest.raises(ValueError, match="64 images"):
        cluster_images(ids, emb[:10], probs, ["cat", "dog", "bird"], {})
    assert cluster_images([], emb[:0], probs[:0], ["cat", "dog", "bird"], {}) == []

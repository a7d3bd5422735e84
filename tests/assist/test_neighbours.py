"""More like this: the nearest images by cosine of their embeddings."""

from __future__ import annotations

import numpy as np

from tui_label.assist import neighbours
from tui_label.assist.neighbours import nearest


def test_the_nearest_come_most_similar_first_and_blocks_change_nothing(monkeypatch):
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(300, 8)).astype(np.float32)
    target = emb[0].copy()
    emb[17] = target * 3  # same direction: cosine 1
    emb[42] = target + rng.normal(scale=0.05, size=8)
    emb[99] = np.nan  # no embedding
    emb[120] = 0.0  # no direction
    ids = list(range(1000, 1300))
    found = nearest(target, ids[1:], emb[1:], 5)
    assert [i for i, _ in found[:2]] == [1017, 1042]
    assert abs(found[0][1] - 1.0) < 1e-5
    assert all(a[1] >= b[1] for a, b in zip(found, found[1:], strict=False))
    assert 1099 not in dict(found) and 1120 not in dict(found)
    brute = sorted(((ids[r], float(emb[r] @ target / np.linalg.norm(emb[r])
                                   / np.linalg.norm(target)))
                    for r in range(1, 300) if r not in (99, 120)), key=lambda x: -x[1])[:5]
    assert [i for i, _ in found] == [i for i, _ in brute]
    monkeypatch.setattr(neighbours, "BLOCK_ROWS", 7)
    blocked = nearest(target, ids[1:], emb[1:], 5)
    # The same images in the same order; a cosine may differ in its last float32 bit (BLAS
    # sums a 7-row block's products in another order than a 300-row one's).
    assert [i for i, _ in blocked] == [i for i, _ in found]
    assert np.allclose([c for _, c in blocked], [c for _, c in found], rtol=0, atol=1e-6)


def test_nothing_to_compare_gives_nothing():
    emb = np.ones((3, 4), np.float32)
    assert nearest(np.zeros(4), [1, 2, 3], emb, 2) == []
    assert nearest(np.ones(4), [], emb[:0], 2) == []
    assert nearest(np.full(4, np.nan), [1, 2, 3], emb, 2) == []
    assert len(nearest(np.ones(4), [1, 2, 3], emb, 10)) == 3

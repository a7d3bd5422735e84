"""More like this: the images nearest one image by a run's embeddings (cosine similarity), to
label look-alikes together. Numpy only; the caller reads the embeddings through its
``ModelView``. In blocks, so a million candidates cost a bounded amount of memory."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLOCK_ROWS = 65536


def nearest(target: np.ndarray, ids: Sequence[int], embeddings: np.ndarray,
            k: int) -> list[tuple[int, float]]:
    """The ``k`` of ``ids`` (rows of ``embeddings``) most similar to ``target``, most similar
    first, with their cosine; rows without an embedding (NaN) or without a direction are
    left out, and so is ``target``'s own row when it is among them (cosine 1 of itself is
    not news: pass ids without it)."""
    t = np.asarray(target, dtype=np.float32)
    norm = float(np.linalg.norm(t))
    if k < 1 or not len(ids) or not np.isfinite(norm) or norm == 0:
        return []
    t = t / norm
    best_ids: list[np.ndarray] = []
    best_sims: list[np.ndarray] = []
    id_array = np.asarray(ids, dtype=np.int64)
    for start in range(0, len(id_array), BLOCK_ROWS):
        block = np.asarray(embeddings[start:start + BLOCK_ROWS], dtype=np.float32)
        norms = np.linalg.norm(block, axis=1)
        usable = np.isfinite(norms) & (norms > 0)
        sims = np.full(len(block), -np.inf, dtype=np.float32)
        sims[usable] = block[usable] @ t / norms[usable]
        keep = np.argsort(-sims, kind="stable")[:k]
        keep = keep[np.isfinite(sims[keep])]
        best_ids.append(id_array[start:start + BLOCK_ROWS][keep])
        best_sims.append(sims[keep])
    all_ids, all_sims = np.concatenate(best_ids), np.concatenate(best_sims)
    order = np.argsort(-all_sims, kind="stable")[:k]
    return [(int(all_ids[i]), float(all_sims[i])) for i in order]

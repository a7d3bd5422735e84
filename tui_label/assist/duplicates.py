"""Duplicate images, found three ways, headless:

* **exact**: the same bytes (``media.fingerprint`` digest);
* **near**: difference hashes at most ``max_bits`` of 64 apart (the same photo resized,
  recompressed, slightly edited), before any model exists;
* **embedding**: cosine similarity of a run's penultimate-layer embeddings at least
  ``min_cosine`` (the same scene, another shot), once a run has predicted.

Groups are connected components (single linkage): two images are in one group when a chain of
close pairs joins them, so a group of near copies is never split by the order they came in.
``leaks`` keeps the groups whose images sit on both sides of the train/validation split: the
validation accuracy of a run then measures memory, not generalisation (``hash_groups`` on the
decoded pixels is the trainer's check of its own split: ``trainer/leaks.py``).

Numpy only: no textual, no torch, no SQL (the caller reads the store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tui_label.media.fingerprint import Fingerprint

HASH_BITS = 64
MAX_BITS = 4  # near copies: a resized or recompressed photo is 0 to 4 bits away
MIN_COSINE = 0.97
BLOCK_FLOATS = 1 << 25  # rows x N similarities computed at once (128 MiB of float32)


@dataclass(frozen=True)
class Group:
    kind: str  # "exact" | "near" | "embedding"
    image_ids: tuple[int, ...]  # ascending
    # exact: 0; near: the largest distance in bits of a joining pair; embedding: the smallest
    # cosine of a joining pair.
    closeness: float

    def to_dict(self) -> dict:
        return {"kind": self.kind, "size": len(self.image_ids), "image_ids": list(self.image_ids),
                "closeness": self.closeness}


class _Components:
    """Union-find over positions 0..n-1, remembering each component's extreme pair score."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def groups(self) -> list[list[int]]:
        members: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            members.setdefault(self.find(i), []).append(i)
        return [m for m in members.values() if len(m) > 1]


def exact_groups(prints: Iterable[Fingerprint]) -> list[Group]:
    """Images whose files have the same bytes, largest group first."""
    by_digest: dict[str, list[int]] = {}
    for p in prints:
        if p.digest is not None:
            by_digest.setdefault(p.digest, []).append(p.image_id)
    return _sorted(Group("exact", tuple(sorted(ids)), 0.0)
                   for ids in by_digest.values() if len(ids) > 1)


def near_groups(prints: Sequence[Fingerprint], max_bits: int = MAX_BITS) -> list[Group]:
    """Images whose difference hashes are at most ``max_bits`` apart (joined in chains), not
    counting groups that are only exact copies of one file (``exact_groups`` has those)."""
    usable = [p for p in prints if p.dhash is not None]
    digest = {p.image_id: p.digest for p in usable}
    groups = hash_groups([p.image_id for p in usable],
                         np.array([p.dhash for p in usable], dtype=np.uint64), max_bits)
    return [g for g in groups if len({digest[i] for i in g.image_ids}) > 1]


def hash_groups(ids: Sequence[int], hashes: np.ndarray, max_bits: int = MAX_BITS
                ) -> list[Group]:
    """Images whose difference hashes (``hashes[k]`` of ``ids[k]``, uint64) are at most
    ``max_bits`` apart, joined in chains, equal hashes included: ``near`` groups whatever
    their files' bytes (the trainer's leakage check hashes decoded pixels, not files)."""
    if len(ids) < 2:
        return []
    unique, inverse = np.unique(np.asarray(hashes, dtype=np.uint64), return_inverse=True)
    comps = _Components(len(unique))
    root_worst: dict[int, int] = {}
    pairs = list(_close_hash_pairs(unique, max_bits))
    for i, j, _bits in pairs:
        comps.join(i, j)
    for i, _j, bits in pairs:
        root = comps.find(i)
        root_worst[root] = max(root_worst.get(root, 0), bits)
    members: dict[int, list[int]] = {}
    for image_id, u in zip(ids, inverse.ravel().tolist(), strict=True):
        members.setdefault(comps.find(u), []).append(int(image_id))
    return _sorted(Group("near", tuple(sorted(m)), float(root_worst.get(root, 0)))
                   for root, m in members.items() if len(m) > 1)


def _close_hash_pairs(unique: np.ndarray, max_bits: int):
    """``(i, j, bits)`` for the pairs of distinct hashes at most ``max_bits`` apart.

    Multi-index hashing: cut the 64 bits into ``max_bits + 1`` slices; two hashes that close
    agree on at least one slice (pigeonhole), so only hashes sharing a slice are compared."""
    slices = max(1, min(max_bits + 1, HASH_BITS))
    bounds = np.linspace(0, HASH_BITS, slices + 1).astype(int)
    seen: set[tuple[int, int]] = set()
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        mask = np.uint64((1 << int(hi - lo)) - 1)
        keys = (unique >> np.uint64(lo)) & mask
        order = np.argsort(keys, kind="stable")
        cuts = np.flatnonzero(np.diff(keys[order])) + 1
        for bucket in np.split(order, cuts):
            if len(bucket) < 2:
                continue
            for k in range(0, len(bucket), 1024):  # a huge bucket, in slices of rows
                rows = bucket[k:k + 1024]
                bits = _popcount(unique[rows][:, None] ^ unique[bucket][None, :])
                for a, b in zip(*np.nonzero(bits <= max_bits), strict=True):
                    i, j = int(rows[a]), int(bucket[b])
                    if i < j and (i, j) not in seen:
                        seen.add((i, j))
                        yield i, j, int(bits[a, b])


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy 2
        return np.bitwise_count(x)
    as_bytes = np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1)


def embedding_groups(ids: Sequence[int], embeddings: np.ndarray,
                     min_cosine: float = MIN_COSINE) -> list[Group]:
    """Images whose embeddings have a cosine of at least ``min_cosine`` (joined in chains)."""
    n = len(ids)
    if n < 2:
        return []
    emb = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)
    comps = _Components(n)
    lowest: dict[tuple[int, int], float] = {}
    rows_at_once = max(1, BLOCK_FLOATS // n)
    for start in range(0, n, rows_at_once):
        sims = unit[start:start + rows_at_once] @ unit.T
        for a, j in zip(*np.nonzero(sims >= min_cosine), strict=True):
            i = start + int(a)
            if i < j:
                comps.join(i, int(j))
                lowest[(i, int(j))] = float(sims[a, j])
    root_low: dict[int, float] = {}
    for (i, _j), cos in lowest.items():
        root = comps.find(i)
        root_low[root] = min(root_low.get(root, 1.0), cos)
    return _sorted(Group("embedding", tuple(sorted(int(ids[m]) for m in members)),
                         round(root_low[comps.find(members[0])], 4))
                   for members in comps.groups())


def leaks(groups: Iterable[Group], split_of: Mapping[int, str]) -> list[Group]:
    """The groups with images in both the training and the validation split."""
    return [g for g in groups
            if {"train", "val"} <= {split_of.get(i) for i in g.image_ids}]


def _sorted(groups: Iterable[Group]) -> list[Group]:
    return sorted(groups, key=lambda g: (-len(g.image_ids), g.image_ids))

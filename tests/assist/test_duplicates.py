"""Grouping duplicates: exact, near (difference hashes), embeddings, and leaks across the split."""

from __future__ import annotations

import itertools

import numpy as np

from tui_label.assist import duplicates as dup
from tui_label.assist.duplicates import Group
from tui_label.media.fingerprint import Fingerprint


def fp(image_id: int, digest: str | None, dhash: int | None) -> Fingerprint:
    return Fingerprint(image_id, digest, dhash)


def test_exact_groups_are_files_with_the_same_bytes_largest_first():
    prints = [fp(1, "aa", 0), fp(2, "bb", 1), fp(3, "aa", 0), fp(4, "bb", 1), fp(5, "aa", 0),
              fp(6, "cc", 2), fp(7, None, None)]
    assert dup.exact_groups(prints) == [Group("exact", (1, 3, 5), 0.0),
                                        Group("exact", (2, 4), 0.0)]


def test_near_groups_join_chains_within_the_bit_budget_and_leave_exact_copies_alone():
    a = 0xF0F0_F0F0_0F0F_0F0F
    prints = [fp(1, "x1", a), fp(2, "x2", a ^ 0b111), fp(3, "x3", a ^ 0b111 ^ (0b11 << 40)),
              fp(4, "x4", ~a & (2**64 - 1)),  # the opposite: 64 bits away
              fp(5, "same", 123), fp(6, "same", 123),  # one file twice: exact only
              fp(7, "x7", None)]
    (group,) = dup.near_groups(prints, max_bits=3)
    # 1-2 are 3 bits apart, 2-3 another 2: one chain (1 and 3 are 5 apart, over the budget).
    assert group == Group("near", (1, 2, 3), 3.0)
    assert dup.near_groups(prints, max_bits=2) == [Group("near", (2, 3), 2.0)]
    assert dup.near_groups(prints, max_bits=1) == []


def test_multi_index_hashing_finds_exactly_the_pairs_a_brute_force_finds():
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2**63, size=40, dtype=np.int64).astype(np.uint64)
    # Each base hash gets a few variants 0..6 bits away, at random positions.
    hashes = []
    for h in base:
        hashes.append(int(h))
        for flips in rng.integers(0, 7, size=3):
            v = int(h)
            for bit in rng.choice(64, size=int(flips), replace=False):
                v ^= 1 << int(bit)
            hashes.append(v)
    unique = np.unique(np.array(hashes, dtype=np.uint64))
    for max_bits in (0, 2, 4, 6):
        found = {(i, j) for i, j, _ in dup._close_hash_pairs(unique, max_bits)}
        brute = {(i, j) for i, j in itertools.combinations(range(len(unique)), 2)
                 if bin(int(unique[i]) ^ int(unique[j])).count("1") <= max_bits}
        assert found == brute and (max_bits == 0 or brute)


def test_the_popcount_without_numpy_2_counts_the_same():
    x = np.array([0, 1, 2**64 - 1, 0b1011], dtype=np.uint64)
    bytes_view = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=-1).sum(axis=-1)
    assert dup._popcount(x).tolist() == bytes_view.tolist() == [0, 1, 64, 3]


def test_embedding_groups_by_cosine_in_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 16)).astype(np.float32)
    emb[10] = emb[3] * 2.5 + rng.normal(scale=0.01, size=16)  # same direction, other length
    emb[20] = emb[3] + rng.normal(scale=0.02, size=16)
    emb[30] = 0.0  # no direction: joins nothing
    ids = list(range(100, 150))
    expected = [Group("embedding", (103, 110, 120), 0.0)]
    monkeypatch.setattr(dup, "BLOCK_FLOATS", 7 * 50)  # several blocks of 7 rows
    (group,) = dup.embedding_groups(ids, emb.astype(np.float16), min_cosine=0.99)
    assert group.image_ids == expected[0].image_ids and 0.99 <= group.closeness <= 1.0
    assert dup.embedding_groups(ids[:1], emb[:1]) == []


def test_leaks_are_groups_on_both_sides_of_the_split():
    groups = [Group("exact", (1, 2), 0.0), Group("near", (3, 4, 5), 2.0),
              Group("embedding", (6, 7), 0.98)]
    split = {1: "train", 2: "val", 3: "train", 4: "train", 6: "val"}
    assert dup.leaks(groups, split) == [groups[0]]

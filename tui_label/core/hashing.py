"""Stable hashes of paths: the same number for a path in every process and on every run."""

from __future__ import annotations

import hashlib


def unit_hash(text: str) -> float:
    """A stable pseudo-random number in [0, 1) for a string."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64


def in_overlap(path: str, share: float) -> bool:
    """Whether an image belongs to the overlap share (meant for two annotators or more): a
    stable hash of its path under ``share``, the same in every process."""
    return share > 0 and unit_hash(f"overlap:{path}") < share

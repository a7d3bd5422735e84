"""A run's leakage check: near-duplicate images on both sides of its train/validation split
make the validation accuracy measure memory, not generalisation.

Bounded: it hashes the pixels the run has just decoded into the decode cache (a 64-bit
difference hash per image, ``media.fingerprint.dhash_pixels``, read in blocks), never the
files; identical pixels and near copies (at most ``MAX_BITS`` of 64 apart) both count
(``assist.duplicates.hash_groups``). ``tui-label duplicates`` lists the groups themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tui_label.assist.duplicates import MAX_BITS, hash_groups, leaks
from tui_label.core.types import TrainingItem
from tui_label.media.fingerprint import dhash_pixels
from tui_label.trainer.data import CachedImages

BLOCK = 512  # images hashed at once


def pixel_hashes(images: CachedImages) -> np.ndarray:
    """The difference hash of each of a split's cached images."""
    out = np.zeros(len(images), dtype=np.uint64)
    for start in range(0, len(images), BLOCK):
        stop = min(start + BLOCK, len(images))
        out[start:stop] = dhash_pixels(images.view.batch(np.arange(start, stop)))
    return out


def leak_warning(splits: Sequence[tuple[CachedImages, Sequence[TrainingItem]]]) -> str | None:
    """The warning for duplicates across ``splits`` (``(images, items)``: training, then
    validation), or None when no group straddles them."""
    ids: list[int] = []
    split_of: dict[int, str] = {}
    hashes = []
    for name, (images, items) in zip(("train", "val"), splits, strict=True):
        ids += [it.image_id for it in items]
        split_of.update({it.image_id: name for it in items})
        hashes.append(pixel_hashes(images))
    found = leaks(hash_groups(ids, np.concatenate(hashes), MAX_BITS), split_of)
    if not found:
        return None
    images = sum(len(g.image_ids) for g in found)
    return (f"{len(found)} group(s) of duplicate images ({images} images: the same or nearly "
            "the same pixels) straddle the train/validation split, so the validation accuracy "
            "overstates: `tui-label duplicates` lists them")

"""Typical first before any model exists (issue 18.6): TypiClust on the images' own pixels.

With no run there are no embeddings, yet the first labels matter most: twenty images spread
over the modes of the data teach a first model more than twenty in path order (where a folder
sorted by class gives one class for hundreds of images). A thumbnail of each image stands in
for an embedding: grey, 16 x 16, each one standardized (its own mean and contrast taken out),
so that k-means groups shapes and layouts rather than bright and dark images.

Pixels come through ``media.decode.open_image`` (the labeler's guards, JPEG draft decoding), on
threads. numpy and scikit-learn: run in the live head's process (``Pixels`` in
``core.rankings`` calls it there), never on the labeler's UI thread.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from tui_label.assist.typiclust import typical_first
from tui_label.media.decode import DecodeError, open_image

SIDE = 16  # thumbnail side: 256 values an image
DRAFT_SIDE = 64  # large JPEGs decode at a small scale: a thumbnail needs few pixels
# TypiClust round by round, as an annotator would run it: STEP picks, then the clusters again
# with those counted as labeled, up to ROUNDS_UPTO picks; the rest in the last round's order.
# One clustering gives its prototypes and then images much like them: on the digits that
# labels worse than random by the 100th label (benchmarks/cold_start.py, BENCHMARKS.md).
STEP = 10
ROUNDS_UPTO = 100


def thumbnail(path: Path) -> np.ndarray | None:
    """The standardized ``SIDE x SIDE`` grey thumbnail of one image, flat; None when it cannot
    be decoded."""
    try:
        image = open_image(path, DRAFT_SIDE).image
    except DecodeError:
        return None
    grey = image.convert("L").resize((SIDE, SIDE), Image.Resampling.BOX)
    x = np.asarray(grey, dtype=np.float32).ravel()
    x -= x.mean()
    spread = float(x.std())
    return x / spread if spread > 1e-6 else x  # a flat image stays all zeros


def thumbnails(root: Path, paths: list[str], workers: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(features, decoded)``: one row per path (zeros where it could not be decoded) and a
    mask of the rows that were."""
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pixels") as pool:
        rows = list(pool.map(lambda p: thumbnail(root / p), paths))
    decoded = np.array([r is not None for r in rows], dtype=bool)
    out = np.zeros((len(paths), SIDE * SIDE), dtype=np.float32)
    for n, row in enumerate(rows):
        if row is not None:
            out[n] = row
    return out, decoded


def typical_paths(root: str, paths: list[str]) -> np.ndarray:
    """Positions of ``paths`` (relative to ``root``, none labeled), most typical first by
    their pixels; those that cannot be decoded last, in the order given. Module level, so
    another process can run it."""
    features, decoded = thumbnails(Path(root), list(paths))
    good = np.flatnonzero(decoded)
    first = good[rounds(features[good])] if len(good) else good
    return np.concatenate([first, np.flatnonzero(~decoded)]).astype(np.int64)


def rounds(features: np.ndarray, step: int = STEP, upto: int = ROUNDS_UPTO) -> np.ndarray:
    """Every row of ``features``, in TypiClust's order round by round (``STEP``)."""
    picked = np.zeros(len(features), dtype=bool)
    out: list[np.ndarray] = []
    while picked.sum() < min(upto, len(features)):
        take = typical_first(features, picked, budget=step)[:step]
        out.append(take)
        picked[take] = True
    if not picked.all():
        out.append(typical_first(features, picked, budget=step))
    return np.concatenate(out).astype(np.int64) if out else np.empty(0, dtype=np.int64)

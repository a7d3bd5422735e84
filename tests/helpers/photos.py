"""Shared test helpers, formerly in tests/test_kitty.py."""

from __future__ import annotations

import numpy as np
from PIL import Image


def photo(w: int, h: int, seed: int = 0, noise: float = 20.0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) % 255], -1).astype(np.float32)
    base += rng.normal(0, noise, base.shape)
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))

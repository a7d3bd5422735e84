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


def portrait(w: int, h: int, seed: int = 0) -> Image.Image:
    """A photo-like scene: a smooth, brightly lit face-like ellipse (gentle shading, as a
    forehead), dark hair above it, a fine-grained fur-like patch with soft edges on a
    mid-tone background, and sensor noise. Many close colours in large smooth areas next to
    strong edges: where a poor palette shows specks and blocks."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = x / w, y / h
    image = np.stack([90 + 60 * u, 110 + 40 * v, 140 - 50 * u * v], -1)  # background
    face = ((u - 0.38) / 0.22) ** 2 + ((v - 0.55) / 0.33) ** 2
    light = np.clip(1.0 - 0.35 * face - 0.25 * (u - 0.3), 0.4, 1.0)[..., None]
    skin = np.array([236, 196, 170], np.float32) * light
    image = np.where((face < 1)[..., None], skin, image)
    hair = (face >= 0.75) & (face < 1.6) & (v < 0.45)
    image[hair] = [45, 32, 25]
    fur = ((u - 0.78) / 0.18) ** 2 + ((v - 0.5) / 0.4) ** 2
    grain = (np.sin(x * 0.9 + np.sin(y * 0.21) * 3) * np.cos(y * 0.7) * 40)[..., None]
    tabby = np.array([190, 140, 90], np.float32) + grain
    blend = np.clip((1.1 - fur) * 4, 0, 1)[..., None]
    image = image * (1 - blend) + tabby * blend
    image += rng.normal(0, 3, image.shape)
    return Image.fromarray(image.clip(0, 255).astype(np.uint8))

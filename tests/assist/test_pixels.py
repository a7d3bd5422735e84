"""Typical first before any model: TypiClust on the images' own thumbnails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tui_label.assist.pixels import SIDE, thumbnail, typical_paths


def _save(path: Path, pixels: np.ndarray) -> str:
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "L").save(path)
    return path.name


def _shape(kind: str, seed: int) -> np.ndarray:
    """A 64x64 grey picture of one of two layouts, with its own noise, brightness and
    contrast (which the thumbnails take out)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:64, 0:64]
    base = (x // 8) % 2 if kind == "stripes" else ((x - 32) ** 2 + (y - 32) ** 2 < 300)
    gain, offset = rng.uniform(60, 150), rng.uniform(20, 90)
    return base * gain + offset + rng.normal(0, 12, (64, 64))


def test_thumbnails_take_out_brightness_and_contrast(tmp_path: Path):
    y, x = np.mgrid[0:64, 0:64]
    dim = _save(tmp_path / "dim.png", 40 + 30 * ((x // 8) % 2))
    bright = _save(tmp_path / "bright.png", 120 + 120 * ((x // 8) % 2))
    a, b = thumbnail(tmp_path / dim), thumbnail(tmp_path / bright)
    assert a is not None and b is not None and a.shape == (SIDE * SIDE,)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert abs(float(a.mean())) < 1e-4 and abs(float(a.std()) - 1) < 1e-4
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert thumbnail(tmp_path / "broken.png") is None


def test_the_first_picks_cover_both_layouts_and_the_odd_one_waits(tmp_path: Path):
    """60 striped images, 30 discs, one of pure noise and one that cannot be decoded: the
    first picks come from both groups, the noise image (a cluster of its own) only after the
    clusters of many, and the broken file last."""
    paths = [_save(tmp_path / f"s{i:02d}.png", _shape("stripes", i)) for i in range(60)]
    paths += [_save(tmp_path / f"d{i:02d}.png", _shape("disc", 100 + i)) for i in range(30)]
    rng = np.random.default_rng(7)
    paths.append(_save(tmp_path / "odd.png", rng.uniform(0, 255, (64, 64))))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths.append("broken.png")

    order = typical_paths(str(tmp_path), paths)
    assert sorted(order.tolist()) == list(range(len(paths)))  # each image exactly once
    picked = [paths[i] for i in order]
    assert {p[0] for p in picked[:4]} == {"s", "d"}  # both layouts among the first picks
    assert picked.index("odd.png") >= 10
    assert picked[-1] == "broken.png"

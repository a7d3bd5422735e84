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
    first picks come from both groups, the noise image (a cluster of its own) after the
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
    # a cluster of its own: picked in the first round (one pick a cluster), but after the
    # clusters of many (the round goes largest cluster first)
    assert 5 <= picked.index("odd.png") < 10
    assert picked[-1] == "broken.png"


def test_rounds_give_every_row_once_and_count_earlier_picks_as_labeled():
    """Round by round: each round's picks come from clusters the earlier rounds left without
    a pick, so two tight groups are both reached in the first two picks of a round of 2."""
    from tui_label.assist.pixels import rounds

    rng = np.random.default_rng(0)
    groups = [rng.normal(c, 0.05, (20, 4)) for c in (0.0, 5.0, 10.0)]
    features = np.concatenate(groups).astype(np.float32)
    order = rounds(features, step=3, upto=9)
    assert sorted(order.tolist()) == list(range(60))
    assert {int(i) // 20 for i in order[:3]} == {0, 1, 2}  # one from each group first
    assert rounds(np.zeros((0, 4), np.float32)).tolist() == []

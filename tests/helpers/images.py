"""Shared test helpers, formerly in tests/test_images.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Random RGB pixels: compress badly, so the data part dominates the file."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def smooth(size: tuple[int, int], seed: int = 0,
           tint: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """A bright disc fading out from a seeded centre, in ``tint``: a picture whose resized or
    recompressed copy keeps its difference hash (noise does not: its 8x9 cell means are all
    about mid-grey, and a JPEG flips their order)."""
    width, height = size
    cx, cy = np.random.default_rng(seed).uniform(0.2, 0.8, 2)
    y, x = np.mgrid[0:height, 0:width]
    grey = np.clip(1 - 1.5 * np.hypot(x / width - cx, y / height - cy), 0, 1)
    return Image.fromarray((grey[..., None] * np.array(tint)).astype(np.uint8))


def cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _bomb_warning(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "warn.png"
    Image.new("RGB", (40, 40), (1, 2, 3)).save(path)  # 1600 px: above MAX, below 2*MAX
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    return path


def _bomb(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (50, 50), (1, 2, 3)).save(path)  # 2500 px: above 2*MAX
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    return path


def _truncated_jpeg(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "cut.jpg"
    noise((256, 256)).save(path, quality=90)
    return cut_in_half(path)


def _truncated_png(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "cut.png"
    noise((256, 256)).save(path)
    return cut_in_half(path)


def _not_an_image(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "fake.jpg"
    path.write_text("this is not a JPEG\n" * 20)
    return path


def _empty(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    return path


def _missing(tmp_path: Path, monkeypatch) -> Path:
    return tmp_path / "nope.jpg"


REFUSED = {"bomb-warning-level": _bomb_warning, "bomb": _bomb,
           "truncated-jpeg": _truncated_jpeg, "truncated-png": _truncated_png,
           "not-an-image": _not_an_image, "empty": _empty, "missing": _missing}

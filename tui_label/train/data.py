"""Training data: decode each labeled image once into a uint8 tensor cache, then augment
batches with tensor ops (no per-epoch decoding, no DataLoader workers).

Pixels come from ``tui_label.images``, the labeler's own decode path: training refuses exactly
the files the labeler shows as placeholders."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tui_label import images

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def decode_square(path: Path, size: int) -> np.ndarray | None:
    """The image as ``size x size x 3`` uint8 (shorter side scaled, centre cropped), or None
    when it cannot be read (see ``images.decode_square``: the labeler's guards)."""
    decoded = images.decode_square(path, size)
    return None if decoded.image is None else np.asarray(decoded.image, dtype=np.uint8)


def build_cache(
    paths: Sequence[Path],
    size: int,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] = lambda done, total: None,
    skipped: Callable[[int, str], None] = lambda index, reason: None,
) -> tuple[torch.Tensor, list[int]]:
    """Decode ``paths`` into an ``N x 3 x size x size`` uint8 tensor; returns it with the
    indices of the paths that could be read. ``skipped(index, reason)`` hears of the others."""
    arrays: list[np.ndarray] = []
    kept: list[int] = []
    total = len(paths)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        decoded = pool.map(lambda p: images.decode_square(p, size), paths)
        for i, result in enumerate(decoded):
            if result.image is not None:
                arrays.append(np.asarray(result.image, dtype=np.uint8))
                kept.append(i)
            else:
                skipped(i, result.error or "unreadable")
            if (i + 1) % 256 == 0 or i + 1 == total:
                progress(i + 1, total)
    if not arrays:
        return torch.empty((0, 3, size, size), dtype=torch.uint8), kept
    stacked = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return stacked, kept


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> float, ImageNet mean/std (what pretrained torchvision models expect)."""
    x = batch.float().div_(255)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def augment(batch: torch.Tensor, *, hflip: bool, generator: torch.Generator | None = None,
            max_shift: float = 0.1, scale: tuple[float, float] = (0.9, 1.1)) -> torch.Tensor:
    """Random shift and zoom per image (one affine warp for the batch), optional horizontal
    flips; returns normalized floats."""
    x = normalize(batch)
    n = x.shape[0]
    dev = x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator).to(dev) * (hi - lo) + lo

    zoom = uniform(1 / scale[1], 1 / scale[0])
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = zoom
    theta[:, 1, 1] = zoom
    theta[:, 0, 2] = uniform(-2 * max_shift, 2 * max_shift)
    theta[:, 1, 2] = uniform(-2 * max_shift, 2 * max_shift)
    if hflip:
        flip = torch.rand(n, generator=generator).to(dev) < 0.5
        theta[:, 0, 0] = torch.where(flip, -theta[:, 0, 0], theta[:, 0, 0])
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def balanced_order(labels: torch.Tensor, num_classes: int,
                   generator: torch.Generator) -> torch.Tensor:
    """An epoch's worth of indices drawn so that every class is equally likely."""
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).float()
    weights = (1.0 / counts)[labels]
    return torch.multinomial(weights, len(labels), replacement=True, generator=generator)


def batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)

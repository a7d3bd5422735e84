"""Training data: each image decoded once into the persistent decode cache
(``tui_label.media.decode_cache``), read back as uint8 batches, augmented with tensor ops (no
per-epoch decoding, no DataLoader workers).

Pixels come from ``tui_label.media.decode``, the labeler's own decode path: training refuses exactly
the files the labeler shows as placeholders."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tui_label.media.decode_cache import CachedView, DecodeCache

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# Sets up to this size are read from the decode cache into memory once (on the GPU for a CUDA
# run: no copy per step); larger ones stream from it a batch at a time, so the trainer's
# resident memory stays bounded however many images there are.
IN_MEMORY_BYTES = 1 << 30


class CachedImages:
    """Images of the decode cache, indexed like an ``N x 3 x S x S`` uint8 tensor: ``x[idx]``
    (a tensor, array, list or slice of positions) reads those images and returns a tensor on
    ``device`` (through pinned memory and a non-blocking copy for CUDA)."""

    def __init__(self, view: CachedView, device: torch.device | str = "cpu") -> None:
        self.view, self.device = view, torch.device(device)
        size = view.cache.size
        self.shape = (len(view), 3, size, size)

    def __len__(self) -> int:
        return len(self.view)

    @property
    def nbytes(self) -> int:
        return len(self.view) * self.view.cache.record

    def _positions(self, key) -> np.ndarray:
        if isinstance(key, slice):
            return np.arange(len(self))[key]
        if isinstance(key, torch.Tensor):
            return key.detach().cpu().numpy().astype(np.int64, copy=False)
        return np.asarray(key, dtype=np.int64)

    def __getitem__(self, key) -> torch.Tensor:
        return self.deliver(self.host(key))

    def host(self, key) -> torch.Tensor:
        """The images at ``key`` in host memory (pinned for a CUDA run): the part of a read
        that ``prefetched`` does ahead, on a thread of its own."""
        pixels = self.view.batch(self._positions(key))  # N x S x S x 3, a fresh buffer
        batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
        return batch.pin_memory() if self.device.type == "cuda" else batch

    def deliver(self, batch: torch.Tensor) -> torch.Tensor:
        """A ``host`` batch on this set's device (a non-blocking copy from pinned memory)."""
        if self.device.type == "cuda":
            return batch.to(self.device, non_blocking=True)
        return batch.to(self.device)

    def to(self, device: torch.device | str) -> CachedImages:
        """The same images, delivered on ``device``."""
        return CachedImages(self.view, device)

    def subset(self, positions) -> CachedImages:
        return CachedImages(self.view.subset(self._positions(positions)), self.device)

    @staticmethod
    def join(parts: Sequence[CachedImages]) -> CachedImages:
        return CachedImages(CachedView.join([p.view for p in parts]), parts[0].device)

    def ready(self, device: torch.device, in_memory: bool) -> torch.Tensor | CachedImages:
        """What a run indexes: these images as one tensor on ``device`` (``in_memory``), else
        streamed to ``device`` a batch at a time."""
        return self[slice(None)].to(device) if in_memory else self.to(device)


def from_cache(cache: DecodeCache, items: Sequence[tuple[int, Path]], *, workers: int = 1,
               progress: Callable[[int, int, int], None] = lambda done, total, decoded: None,
               check: Callable[[], None] = lambda: None,
               skipped: Callable[[int, str], None] = lambda index, reason: None,
               ) -> tuple[CachedImages, list[int]]:
    """Fill ``cache`` with ``items`` (``(image id, path)``) and return their images with the
    indices of the items that could be read; ``skipped(index, reason)`` hears of the others."""
    result = cache.fill(items, workers=workers, progress=progress, check=check)
    unreadable = dict(result.unreadable)
    kept = [i for i, (image_id, _) in enumerate(items) if image_id not in unreadable]
    for i, (image_id, _) in enumerate(items):
        if image_id in unreadable:
            skipped(i, unreadable[image_id])
    view = cache.view([items[i][0] for i in kept], [items[i][1] for i in kept])
    return CachedImages(view), kept


def in_memory(*parts: CachedImages) -> bool:
    """Whether a run's images are small enough to hold in memory (``IN_MEMORY_BYTES``)."""
    return sum(p.nbytes for p in parts) <= IN_MEMORY_BYTES


def concat(parts: Sequence[torch.Tensor | CachedImages]) -> torch.Tensor | CachedImages:
    """A run's blocks of images as one (tensors copied, cached images still streamed)."""
    if isinstance(parts[0], CachedImages):
        return CachedImages.join(parts)
    return torch.cat(list(parts))


def subset(images: torch.Tensor | CachedImages, positions: torch.Tensor):
    """Some of a run's images: a tensor's rows (a copy), or cached images still streamed."""
    if isinstance(images, CachedImages):
        return images.subset(positions)
    return images[positions.to(images.device)]


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


def strong_augment(batch: torch.Tensor, *, hflip: bool,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The strong view of an unlabeled image (FixMatch's): twice ``augment``'s shift, a wider
    zoom, and a square of a third of the side blanked at a random place (cutout)."""
    x = augment(batch, hflip=hflip, generator=generator, max_shift=0.15, scale=(0.8, 1.2))
    n, side = x.shape[0], x.shape[-1]
    cy = torch.randint(0, side, (n, 1, 1), generator=generator).to(x.device)
    cx = torch.randint(0, side, (n, 1, 1), generator=generator).to(x.device)
    span = torch.arange(side, device=x.device)
    inside = ((span.view(1, side, 1) - cy).abs() < side // 6) \
        & ((span.view(1, 1, side) - cx).abs() < side // 6)
    return x.masked_fill(inside.unsqueeze(1), 0.0)


def balanced_order(labels: torch.Tensor, num_classes: int,
                   generator: torch.Generator) -> torch.Tensor:
    """An epoch's worth of indices drawn so that every class is equally likely.

    Multi-hot rows (multi-label mode): an image weighs as its rarest class, and the images
    with no class as one more class."""
    if labels.dim() == 2:
        counts = labels.sum(0).clamp(min=1)
        weights = (labels / counts).max(1).values
        empty = labels.sum(1) == 0
        weights[empty] = 1.0 / empty.sum().clamp(min=1)
    else:
        counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).float()
        weights = (1.0 / counts)[labels]
    return torch.multinomial(weights, len(labels), replacement=True, generator=generator)


def batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


PREFETCH = 2  # streamed batches read ahead of the one being trained on


def prefetched(images: torch.Tensor | CachedImages, batch_indices: Sequence[torch.Tensor],
               depth: int = PREFETCH) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(idx, images[idx])`` for each ``idx`` of ``batch_indices``, in order.

    A streamed set (``CachedImages``) is read ``depth`` batches ahead on a thread of its own:
    the next batches' disk reads, CRC checks and pinning overlap the current step instead of
    stalling the GPU between steps. A set in memory is simply indexed. Leaving the loop early
    (a stop) waits for the reads in flight, at most ``depth``."""
    if not isinstance(images, CachedImages) or depth < 1:
        for idx in batch_indices:
            yield idx, images[idx.to(images.device)]
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        todo = iter(batch_indices)
        ahead: deque = deque((idx, pool.submit(images.host, idx))
                             for idx in itertools.islice(todo, depth))
        try:
            while ahead:
                idx, read = ahead.popleft()
                following = next(todo, None)
                if following is not None:
                    ahead.append((following, pool.submit(images.host, following)))
                yield idx, images.deliver(read.result())
        finally:  # closed early: reads not begun never will; the pool waits for the one in
            for _, read in ahead:  # hand, so the cache outlives every read of it
                read.cancel()


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


MIN_STEPS_PER_EPOCH = 10
# Learning from unlabeled images too takes more steps: the model's own predictions on them
# must first become sure, then teach it (300 steps in 10 epochs; 100 gave nothing over labels
# alone on the digits: benchmarks/label_efficiency.py).
MIN_STEPS_WITH_UNLABELED = 30


def epoch_repeats(n: int, batch_size: int, unlabeled: bool = False) -> int:
    """How many times an epoch passes over ``n`` training images: once, or for a small set as
    often as it takes to make ``MIN_STEPS_PER_EPOCH`` optimizer steps (each pass in its own
    random order, with its own augmentation); ``MIN_STEPS_WITH_UNLABELED`` when the run learns
    from unlabeled images as well."""
    least = MIN_STEPS_WITH_UNLABELED if unlabeled else MIN_STEPS_PER_EPOCH
    return max(1, math.ceil(least * batch_size / max(n, 1)))


@dataclass
class Cached:
    """Images the run already decoded at its size (no second decode): ``images[k]`` is image
    ``ids[k]``."""

    ids: list[int]
    images: torch.Tensor | CachedImages


@dataclass
class TrainedData:
    """Every labeled image the run decoded, as ``(images, labels, items)`` blocks (training,
    validation) where ``items[k]`` is ``images[k]``, and the unlabeled ones it learned from:
    reused for the predictions (the folds take the labeled ones), never decoded twice."""

    blocks: list[tuple[torch.Tensor | CachedImages, torch.Tensor, list]]
    unlabeled: Cached | None = None  # the unlabeled images it learned from (--unlabeled)

    def cached(self) -> list[Cached]:
        labeled = [Cached([it.image_id for it in items], images)
                   for images, _, items in self.blocks]
        return labeled + ([self.unlabeled] if self.unlabeled is not None else [])

    def joined(self) -> tuple[torch.Tensor | CachedImages, torch.Tensor, list]:
        """All blocks as one (a copy: only the folds need it)."""
        return (concat([b[0] for b in self.blocks]),
                torch.cat([b[1] for b in self.blocks]),
                [it for b in self.blocks for it in b[2]])

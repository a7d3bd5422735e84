"""What a run trains on: the label mode, the dataset folder, the labeled items and classes,
checked before anything is written."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import torch

from tui_label.core.types import TrainingItem
from tui_label.errors import UsageError
from tui_label.runs.options import TrainOptions
from tui_label.store import Store


class Plan(NamedTuple):
    """The dataset folder, the labeled items, the column of each class id, the class names."""

    root: Path
    items: list[TrainingItem]
    index_of: dict[int, int]
    names: list[str]


def label_mode(opts: TrainOptions, store: Store) -> TrainOptions:
    """``opts`` with ``multi_label`` decided: the database's mode unless given. A run records
    it in its config, and a resumed run keeps the mode it began in.

    Raises:
        UsageError: single-label training asked of a multi-label database, or ``--folds``
            (out-of-sample probabilities for the single-label suspect labels) in multi-label
            mode.
    """
    mode = store.multi_label if opts.multi_label is None else opts.multi_label
    if store.multi_label and not mode:
        raise UsageError("this database is labeled in multi-label mode (a set of classes per "
                         "image): a single-label run cannot train on it"
                         + (f"; run {opts.resume} was single-label: start a new run"
                            if opts.resume else ""))
    if mode and opts.folds:
        raise UsageError("--folds gives out-of-sample probabilities for the suspect labels, "
                         "which are single-label: leave it out in multi-label mode")
    return replace(opts, multi_label=mode)


def check_multi_labels(names: list[str], sets: list[frozenset[int]]) -> None:
    """Multi-label mode: at least two labeled images, and a class given to one of them."""
    if len(sets) < 2 or not any(sets):
        raise UsageError(f"too few labels to train: {len(sets)} labeled image(s), "
                         f"{sum(1 for s in sets if s)} with a class; label at least 2 images, "
                         "at least one with a class")


def check_labels(names: list[str], labels: list[int]) -> list[str]:
    """Refuse a set that cannot train (fewer than 2 classes with labels, or no image left for
    validation); returns the warnings for what it can train on with a caveat."""
    counts = [labels.count(k) for k in range(len(names))]
    present = [(n, c) for n, c in zip(names, counts, strict=True) if c > 0]
    if len(present) < 2:
        raise UsageError(f"too few labels to train: {len(present)} class(es) have labels; "
                         "label images of at least 2 classes")
    if all(c < 2 for _, c in present):
        raise UsageError("too few labels to train: no class has 2 labels, so none is left "
                         "for validation; label a few more")
    thin = [n for n, c in present if c < 2]
    if not thin:
        return []
    shown = ", ".join(repr(n) for n in thin[:5]) + (f" and {len(thin) - 5} more"
                                                   if len(thin) > 5 else "")
    return [f"{len(thin)} class(es) have a single label, trained on but not validated: {shown}"]


def plan(opts: TrainOptions, store: Store, warn: Callable[[str], None] = lambda m: None,
         ) -> Plan:
    """What a run trains on. Raises ``UsageError`` when there is not enough to train;
    ``warn`` gets what it trains on with a caveat."""
    root = opts.root or (Path(store.get_setting("root")) if store.get_setting("root") else None)
    if root is None:
        raise UsageError("which folder holds the images? give DIR (the labeler records it "
                         "when you first open a folder)")
    if not root.is_dir():
        raise UsageError(f"dataset folder not found: {root}")
    classes = [c for c in store.classes()]
    items = store.training_items()
    index_of = {c.id: k for k, c in enumerate(classes)}
    names = [c.name for c in classes]
    if opts.multi_label:
        check_multi_labels(names, [it.classes for it in items])
        return Plan(root, items, index_of, names)
    sets = sum(1 for it in items if it.class_id is None)
    if sets:
        raise UsageError(f"{sets} image(s) are labeled with a set of classes: they need a "
                         "multi-label run (tui-label label --multi-label switches the database)")
    for message in check_labels(names, [index_of[it.class_id] for it in items]):
        warn(message)
    return Plan(root, items, index_of, names)


def unlabeled_sample(store: Store, items: Sequence[TrainingItem], limit: int,
                     seed: int) -> list[TrainingItem]:
    """Up to ``limit`` readable images of the store without a label (``items`` are the
    labeled ones), drawn at random with ``seed``, in id order; their items have no class."""
    if limit <= 0:
        return []
    labeled = {it.image_id for it in items}
    pool = [(image_id, path) for image_id, path in store.readable_images()
            if image_id not in labeled]
    if len(pool) > limit:
        pool = sorted(random.Random(seed).sample(pool, limit))
    return [TrainingItem(image_id, path, None) for image_id, path in pool]


def targets(items: Sequence[TrainingItem], index_of: dict[int, int],
            multi_label: bool) -> torch.Tensor:
    """What the loss compares the model's output with: each item's class column (long), or
    in multi-label mode a multi-hot row per item (float; the empty set is all zeros)."""
    if not multi_label:
        return torch.tensor([index_of[it.class_id] for it in items], dtype=torch.long)
    y = torch.zeros(len(items), len(index_of))
    for row, it in enumerate(items):
        y[row, [index_of[c] for c in it.classes if c in index_of]] = 1.0
    return y

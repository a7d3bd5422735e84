"""``--folds K``: out-of-sample probabilities of every labeled image from K models
fine-tuned with the run's settings, each on the labeled images outside one fold."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.trainer import data as tdata
from tui_label.trainer.fit import Fit, set_train_mode
from tui_label.trainer.models import build_model
from tui_label.trainer.oof import assign_folds
from tui_label.trainer.predict import Predictor


def fine_tune_folds(opts: TrainOptions, emitter: Emitter, names: list[str],
                    device: torch.device, data: tdata.TrainedData,
                    check: Callable[[int], None]) -> tuple[np.ndarray, np.ndarray]:
    """Train ``opts.folds`` models, each on the labeled images outside one fold, and predict
    that fold. Returns ``(image ids, probabilities)``: every labeled image's probabilities
    from the model that never saw its label. ``check(epoch)`` raises to stop."""
    images, labels, items = data.joined()
    folds = assign_folds(labels.cpu().numpy(), [it.path for it in items], opts.folds)
    ids, probs = [], []
    for fold in range(opts.folds):
        held = np.flatnonzero(folds == fold)
        if len(held) == 0:
            continue
        train_idx = torch.from_numpy(np.flatnonzero(folds != fold))
        emitter.emit("fold", fold=fold + 1, folds=opts.folds, num_train=len(train_idx),
                     num_held_out=len(held))
        model = _fold_model(opts, len(names), device, fold)
        x, y = tdata.subset(images, train_idx), labels[train_idx]
        generator = torch.Generator().manual_seed(opts.seed + fold + 1)
        fit = Fit(model, opts, device, y, len(names), generator)
        set_train_mode(model, opts.freeze_backbone)
        for epoch in range(1, opts.epochs + 1):
            fit.train_one_epoch(epoch, x, y, check)
        held_probs, _ = Predictor(model, device, opts.batch_size)(
            images[torch.from_numpy(held).to(images.device)], check)
        ids.append(np.asarray([items[i].image_id for i in held], dtype=np.int64))
        probs.append(held_probs)
    return np.concatenate(ids), np.concatenate(probs)


def _fold_model(opts: TrainOptions, num_classes: int, device: torch.device,
                fold: int) -> torch.nn.Module:
    """A fresh model for ``fold``, seeded by it, on ``device``."""
    torch.manual_seed(opts.seed + fold + 1)
    model = build_model(opts.model, num_classes, pretrained=opts.pretrained,
                        weights_file=opts.weights, freeze_backbone=opts.freeze_backbone)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model

"""One model's optimizer, schedule and loss (``Fit``), a pass over the training images
(``Fit.train_one_epoch``) and a validation pass (``evaluate``), as torchvision's
``references/classification/train.py`` has them. The run trains one ``Fit``; ``--folds K``
trains K more.

With unlabeled images (``--unlabeled``), each step also learns from a batch of them as
FixMatch does (Sohn et al., 2020): the model's prediction on a lightly augmented copy, where
it is at least ``PSEUDO_THRESHOLD`` sure, is the target for a strongly augmented copy."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing

import torch
import torch.nn.functional as F
from torch import nn

from tui_label.runs.options import TrainOptions
from tui_label.trainer import data as tdata
from tui_label.trainer.context import NaNLoss
from tui_label.trainer.device import autocast_for, logits_of
from tui_label.trainer.distributed import ALONE, World, epoch_order

PSEUDO_THRESHOLD = 0.8  # how sure the weak view's prediction must be to train the strong one
UNLABELED_PER_LABELED = 2  # unlabeled images a step for each labeled one (two views each)
WARM_UP_SHARE = 0.1  # the first tenth of the steps learns from the labels alone


def loss_of(logits: torch.Tensor, y: torch.Tensor, multi_label: bool,
            weight: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """The training loss: cross-entropy over the classes (softmax) for class columns, or in
    multi-label mode binary cross-entropy per class (a sigmoid each) for multi-hot rows, with
    ``weight`` as each class's positive weight."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight,
                                                  reduction=reduction)
    return F.cross_entropy(logits, y, weight=weight, reduction=reduction)


def set_train_mode(model: nn.Module, frozen: bool) -> None:
    """Train mode; with a frozen backbone its batch-norm statistics stay frozen too."""
    model.train()
    if frozen:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                    p.requires_grad for p in module.parameters()):
                module.eval()


class Fit:
    """One model's optimizer, learning-rate schedule and loss: ``train_one_epoch()`` trains
    one pass."""

    def __init__(self, model: nn.Module, opts: TrainOptions, device: torch.device,
                 train_y: torch.Tensor, num_classes: int, generator: torch.Generator,
                 world: World = ALONE,
                 unlabeled: torch.Tensor | tdata.CachedImages | None = None) -> None:
        """``world``: with several ranks, ``model`` is the DDP-wrapped one; each rank takes
        its share of every epoch's order, in batches of ``--batch-size / ranks``.
        ``unlabeled``: images without labels to learn from as well (single-label runs only:
        ``TrainOptions.unlabeled_sample`` draws none in multi-label mode)."""
        self.model, self.opts, self.device, self.generator = model, opts, device, generator
        self.world = world
        self.unlabeled = unlabeled if unlabeled is not None and len(unlabeled) else None
        # A batch larger than the training set is the set (each step drew the whole
        # --batch-size from it: 100,000 images a step from 107).
        n = len(train_y)
        self.global_batch = min(opts.batch_size, max(world.size, n - n % world.size))
        self.batch_size = self.global_batch // world.size
        self.num_classes = num_classes
        self.channels_last = device.type == "cuda"
        self.autocast, self.scaler = autocast_for(device)
        self.multi_label = bool(opts.multi_label)
        self.weight = class_weights(opts, train_y, num_classes, self.multi_label, device)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=opts.learning_rate, weight_decay=5e-4)
        # A small set is passed over several times an epoch, so that a run takes enough steps
        # to learn: 63 labels at batch 64 would otherwise be 10 steps in 10 epochs.
        self.repeats = tdata.epoch_repeats(len(train_y), self.global_batch,
                                           self.unlabeled is not None)
        self.steps = tdata.steps_per_epoch(
            math.ceil(len(train_y) * self.repeats / world.size), self.batch_size)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=opts.learning_rate, total_steps=self.steps * opts.epochs,
            pct_start=0.15)
        self.warm_up_steps = math.ceil(WARM_UP_SHARE * self.steps * opts.epochs)

    def state_dict(self) -> dict:
        """What a resumed run needs besides the weights and the random state."""
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "steps_per_epoch": self.steps}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()``: the optimizer's moments and the schedule where they
        stopped (the schedule keeps the original run's total steps)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):  # none on a CPU, or with bf16
            self.scaler.load_state_dict(state["scaler"])

    def epoch_order(self, epoch: int, train_y: torch.Tensor) -> torch.Tensor:
        """The positions this rank trains on in ``epoch``, in order (``repeats`` passes)."""
        opts = self.opts
        if self.world.distributed:  # the same order on every rank, each takes its share
            shared = torch.Generator().manual_seed(opts.seed * 100_003 + epoch)
            return self.world.shard(torch.cat([
                tdata.balanced_order(train_y, self.num_classes, shared)
                for _ in range(self.repeats)]) if opts.balance == "sampler"
                else epoch_order(len(train_y), opts.seed, epoch, self.repeats))
        if opts.balance == "sampler":
            return torch.cat([tdata.balanced_order(train_y, self.num_classes, self.generator)
                              for _ in range(self.repeats)])
        return torch.cat([torch.randperm(len(train_y), generator=self.generator)
                          for _ in range(self.repeats)])

    def train_one_epoch(self, epoch: int, train_x: torch.Tensor | tdata.CachedImages,
                        train_y: torch.Tensor,
                        check: Callable[[int], None] = lambda epoch: None,
                        on_step: Callable[[int, int, torch.Tensor, int], None] | None = None,
                        ) -> float:
        """One pass over the training images; returns the mean training loss.

        ``check(epoch)`` runs before each step (it raises to stop), ``on_step(epoch, step,
        loss, images)`` after it.
        """
        order = tdata.batches(self.epoch_order(epoch, train_y), self.batch_size)
        loss_sum = torch.zeros((), device=self.device)
        # closing: a stop mid-epoch ends the reads ahead before the cache may be closed
        steps = tdata.prefetched(train_x, order)
        extra = self.unlabeled_reads([len(idx) for idx in order])
        with closing(steps) as stream, closing(extra) as unlabeled:
            batches = zip(stream, unlabeled, strict=True)
            for step, ((idx, images), more) in enumerate(batches, start=1):
                check(epoch)
                x = tdata.augment(images, hflip=self.opts.hflip, generator=self.generator)
                y = train_y[idx].to(self.device, non_blocking=True)
                loss = self.step(x, y, more)
                loss_sum += loss.detach()
                if on_step is not None:
                    on_step(epoch, step, loss, len(idx))
        train_loss = (loss_sum / self.steps).item()
        if not math.isfinite(train_loss):
            raise NaNLoss(f"the loss became {train_loss} in epoch {epoch}: try a lower --lr "
                          f"than {self.opts.learning_rate}")
        return train_loss

    def unlabeled_draws(self, sizes: Sequence[int]) -> list[torch.Tensor | None]:
        """For each of an epoch's steps (``sizes``: its labeled batch sizes, from the next
        step on), the unlabeled images it learns from as well, ``UNLABELED_PER_LABELED`` for
        each labeled one, drawn at random: positions in ``unlabeled``. None for a step in the
        warm-up, while the model's predictions are not worth learning from, and for every step
        without unlabeled images."""
        if self.unlabeled is None:
            return [None] * len(sizes)
        first = self.scheduler.last_epoch
        return [torch.randint(0, len(self.unlabeled), (n * UNLABELED_PER_LABELED,),
                              generator=self.generator)
                if first + i >= self.warm_up_steps else None for i, n in enumerate(sizes)]

    def unlabeled_reads(self, sizes: Sequence[int]) -> Iterator[torch.Tensor | None]:
        """``unlabeled_draws(sizes)``'s images, step by step, read ahead like the labeled
        batches (``tdata.prefetched``: a streamed set on a thread of its own)."""
        draws = self.unlabeled_draws(sizes)
        if self.unlabeled is None:
            yield from draws
            return
        reads = tdata.prefetched(self.unlabeled, [d for d in draws if d is not None])
        with closing(reads):
            for drawn in draws:
                yield None if drawn is None else next(reads)[1]

    def loss(self, x: torch.Tensor, y: torch.Tensor,
             unlabeled: torch.Tensor | None = None) -> torch.Tensor:
        """The labeled batch's loss, plus the ``unlabeled`` images' (uint8, not augmented):
        cross-entropy of their strong views against their weak views' predictions where
        those are sure enough (FixMatch), in one forward pass with the labeled batch."""
        views = None
        if unlabeled is not None:
            hflip = self.opts.hflip
            views = (tdata.augment(unlabeled, hflip=hflip, generator=self.generator),
                     tdata.strong_augment(unlabeled, hflip=hflip, generator=self.generator))
        batch = x if views is None else torch.cat([x, *views])
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        logits = logits_of(self.model(batch)).float()
        loss = loss_of(logits[:len(x)], y, self.multi_label, weight=self.weight)
        if views is None:
            return loss
        weak, strong = logits[len(x):].chunk(2)
        sure, pseudo = weak.detach().softmax(1).max(1)
        kept = (sure >= PSEUDO_THRESHOLD).float()
        return loss + (F.cross_entropy(strong, pseudo, reduction="none") * kept).mean()

    def step(self, x: torch.Tensor, y: torch.Tensor,
             unlabeled: torch.Tensor | None = None) -> torch.Tensor:
        """One optimizer step on the batch ``x`` (augmented) with targets ``y`` and the
        ``unlabeled`` images (``loss``); its loss."""
        with self.autocast:
            loss = self.loss(x, y, unlabeled)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        # A resumed run with more labels than before takes more steps than its schedule
        # has: those stay at the schedule's last rate.
        if self.scheduler.last_epoch < self.scheduler.total_steps:
            self.scheduler.step()
        return loss


def class_weights(opts: TrainOptions, train_y: torch.Tensor, num_classes: int,
                  multi_label: bool, device: torch.device) -> torch.Tensor | None:
    """``--balance loss``: each class's weight in the loss (None: all weigh the same)."""
    if opts.balance != "loss":
        return None
    if multi_label:  # each class's positives weigh as much as its negatives (pos_weight)
        positives = train_y.sum(0)
        return ((len(train_y) - positives) / positives.clamp(min=1)).clamp(min=1.0).to(device)
    counts = torch.bincount(train_y, minlength=num_classes).clamp(min=1).float()
    return (counts.sum() / (num_classes * counts)).to(device)


def evaluate(fit: Fit, model: nn.Module, images: torch.Tensor | tdata.CachedImages,
             labels: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Validation loss and predictions of ``model`` (``fit``'s, unwrapped), under no-grad, at
    ``fit``'s batch size and precision; puts the model back in train mode.

    The predictions are the top class of each image, or in multi-label mode each class's
    sigmoid probability (N x classes); the loss is per image, or per image and class."""
    model.eval()
    total_loss, predictions = 0.0, []
    with torch.no_grad(), fit.autocast:
        order = torch.arange(len(labels))
        stream = tdata.prefetched(images, tdata.batches(order, fit.batch_size))
        with closing(stream):
            for idx, batch in stream:
                x = tdata.normalize(batch.to(fit.device, non_blocking=True))
                if fit.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                logits = model(x).float()
                y = labels[idx].to(fit.device)
                total_loss += loss_of(logits, y, fit.multi_label, reduction="sum").item()
                predictions.append((logits.sigmoid() if fit.multi_label
                                    else logits.argmax(1)).cpu())
    set_train_mode(model, fit.opts.freeze_backbone)
    if predictions:
        preds = torch.cat(predictions)
    elif fit.multi_label:
        preds = torch.empty((0, fit.num_classes))
    else:
        preds = torch.empty(0, dtype=torch.long)
    per = fit.num_classes if fit.multi_label else 1  # BCE's sum is over images and classes
    return total_loss / max(len(labels) * per, 1), preds


def evaluate_shared(fit: Fit, model: nn.Module, images: torch.Tensor | tdata.CachedImages,
                    labels: torch.Tensor) -> tuple[float, torch.Tensor]:
    """``evaluate`` with every rank taking its share of the images, gathered: the loss and
    the predictions of all of them, in order, on every rank."""
    world = fit.world
    if not world.distributed:
        return evaluate(fit, model, images, labels)
    mine = torch.arange(len(labels))[world.rank::world.size]
    loss, preds = evaluate(fit, model, tdata.subset(images, mine), labels[mine])
    total = 0.0
    out = torch.empty((len(labels), *preds.shape[1:]), dtype=preds.dtype)
    for positions, part_loss, part_preds in world.gather((mine, loss * len(mine), preds)):
        out[positions] = part_preds
        total += part_loss
    return total / max(len(labels), 1), out

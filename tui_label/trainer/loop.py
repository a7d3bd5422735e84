"""The epochs of a run, in order: prepare the data, place and wrap the model, then for each
epoch train one pass, evaluate, record the metrics and the checkpoints (as torchvision's
``references/classification/train.py`` ``main`` does). The run's lifecycle (creating it,
its predictions, its end) is ``run``'s.

Events, in order (see ``runs/events.py``): preparing, started, step, epoch, checkpoint.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tui_label.core.types import TrainingItem
from tui_label.media.decode_cache import DecodeCache
from tui_label.runs.metrics import confusion_matrix, multi_label_report, report
from tui_label.runs.options import option_field
from tui_label.trainer import data as tdata
from tui_label.trainer.checkpoint import restore_fit, rng_state, save_atomic
from tui_label.trainer.context import Cancelled, NaNLoss, RunContext
from tui_label.trainer.device import gpu_status, precision_of
from tui_label.trainer.fit import Fit, evaluate_shared, set_train_mode
from tui_label.trainer.leaks import leak_warning
from tui_label.trainer.oof import warm_up
from tui_label.trainer.plan import targets, unlabeled_sample


@dataclass
class Prepared:
    """Both splits decoded (images, their labels, their items) and what it took."""

    data: tdata.TrainedData  # blocks: training, validation
    cache: DecodeCache  # open while the images stream from it; the run closes it
    decoded: int  # images decoded (the others were in the cache already)
    seconds: float  # decoding or reading: what the cache saves

    @property
    def train(self) -> tuple:
        return self.data.blocks[0]

    @property
    def val(self) -> tuple:
        return self.data.blocks[1]


@dataclass
class Trained:
    """What the epochs leave: the model (unwrapped), the images, the best accuracy and
    when the epochs began."""

    model: nn.Module
    prepared: Prepared
    best_accuracy: float
    start: float  # time.monotonic() at the first epoch


class Decoding:
    """Decodes subsets of the labeled items through the cache, with ``preparing`` events,
    a count of what it decoded and the images it could not read."""

    def __init__(self, ctx: RunContext, cache: DecodeCache) -> None:
        self.ctx, self.cache = ctx, cache
        self.decoded, self.now = 0, 0  # by the passes before this one, by this one so far
        self.skipped: list[tuple[str, str]] = []  # (path, why), for the warning

    def progress(self, done: int, total: int, decoded_now: int) -> None:
        self.now = decoded_now
        self.ctx.emitter.emit("preparing", done=done, total=total, decoded=decoded_now)

    def check_stop(self) -> None:
        if self.ctx.stopper.requested:
            raise Cancelled(f"stopped by {self.ctx.stopper.requested} while decoding images")

    def __call__(self, subset: list[TrainingItem]) -> tuple:
        """``(images, labels, items)`` of the readable ones of ``subset``."""
        images, items = self.images(subset)
        ctx = self.ctx
        return images, targets(items, ctx.index_of, bool(ctx.opts.multi_label)), items

    def images(self, subset: list[TrainingItem]) -> tuple[tdata.CachedImages, list]:
        """``(images, items)`` of the readable ones of ``subset``."""
        ctx = self.ctx
        images, kept = tdata.from_cache(
            self.cache, [(it.image_id, ctx.root / it.path) for it in subset],
            workers=max(1, (os.cpu_count() or 2) - 1), progress=self.progress,
            check=self.check_stop,
            skipped=lambda i, reason: self.skipped.append((subset[i].path, reason)))
        self.decoded, self.now = self.decoded + self.now, 0
        return images, [subset[i] for i in kept]


def unreadable_warning(skipped: list[tuple[str, str]]) -> str:
    """One line: how many labeled images were left out, and why for the first few."""
    shown = ", ".join(f"{path} ({reason})" for path, reason in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return (f"{len(skipped)} labeled image(s) could not be read and are left out: "
            f"{shown}{more}")


def prepare_data(ctx: RunContext, items: list[TrainingItem], warnings: list[str]) -> Prepared:
    """Split the labeled items (rank 0 stores the split and draws the unlabeled sample, every
    rank gets both), then decode both splits and the sample through the decode cache (every
    image once per size, beside the database: a later run and the predictions read what an
    earlier one decoded)."""
    opts, world = ctx.opts, ctx.world
    split = world.broadcast(ctx.writer.must("the train/validation split", ctx.store.assign_splits,
                                            items, opts.val_fraction) if world.main else None)
    sample = world.broadcast(unlabeled_sample(
        ctx.store, items, opts.unlabeled_sample(len(items)), opts.seed) if world.main else None)
    for message in warnings:
        ctx.emitter.emit("warning", message=message)
    cache = DecodeCache.open(opts.db, opts.size)
    decode = Decoding(ctx, cache)
    preparing = time.monotonic()
    train_x, train_y, train_kept = decode([it for it in items if split[it.image_id] == "train"])
    val_x, val_y, val_kept = decode([it for it in items if split[it.image_id] == "val"])
    if decode.skipped:
        ctx.emitter.emit("warning", message=unreadable_warning(decode.skipped))
    if world.main and (leak := leak_warning([(train_x, train_kept), (val_x, val_kept)])):
        ctx.emitter.emit("warning", message=leak)
    if len(train_y) == 0 or len(val_y) == 0:
        raise RuntimeError("no readable images left in the training or validation split")
    unlabeled_x, unlabeled_kept = decode.images(sample)  # the unreadable ones are left out
    # A small set is read into memory once (onto the GPU for CUDA: no copies per step); a
    # large one streams from the cache a batch at a time.
    whole = tdata.in_memory(train_x, val_x, unlabeled_x)
    train_x, val_x, unlabeled_x = (x.ready(ctx.device, whole)
                                   for x in (train_x, val_x, unlabeled_x))
    if whole:
        cache.close()
    unlabeled = tdata.Cached([it.image_id for it in unlabeled_kept], unlabeled_x) \
        if unlabeled_kept else None
    data = tdata.TrainedData([(train_x, train_y, train_kept), (val_x, val_y, val_kept)],
                             unlabeled)
    return Prepared(data, cache, decode.decoded, time.monotonic() - preparing)


def place_model(ctx: RunContext, model: nn.Module) -> nn.Module:
    """The model on the run's device (channels-last on CUDA)."""
    model = model.to(ctx.device)
    if ctx.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def wrap_model(ctx: RunContext, model: nn.Module) -> nn.Module:
    """What the steps run: DDP (it averages the gradients over the ranks), compiled with
    ``--compile`` (slower first steps, faster ones after, mostly on CUDA)."""
    trained = model
    if ctx.world.distributed:
        trained = DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    if ctx.opts.compile:
        trained = torch.compile(trained)
    return trained


def announce_start(ctx: RunContext, fit: Fit, prepared: Prepared) -> None:
    """Record the device and split sizes; the ``started`` event."""
    opts, (_, train_y, _), (_, val_y, _) = ctx.opts, prepared.train, prepared.val
    # The default batch is capped at a small training set without a word: only a batch
    # asked for (not the default) that the set cannot fill is worth a warning.
    if fit.global_batch < opts.batch_size != option_field("batch_size").default:
        ctx.emitter.emit("warning", message=f"--batch-size {opts.batch_size} is more than the "
                         f"{len(train_y)} training images: batches of {fit.global_batch}")
    unlabeled = len(fit.unlabeled) if fit.unlabeled is not None else 0
    ctx.writer.must("the run's device and split sizes", ctx.store.update_run, ctx.run_id,
                    device=str(ctx.device), num_train=len(train_y), num_val=len(val_y),
                    num_unlabeled=unlabeled)
    ctx.emitter.emit("started", model=opts.model, device=str(ctx.device),
                     precision=precision_of(fit), classes=ctx.names,
                     num_train=len(train_y), num_val=len(val_y), num_unlabeled=unlabeled,
                     epochs=opts.epochs,
                     steps=fit.steps, image_size=opts.size, world_size=ctx.world.size,
                     config=opts.to_json(), decoded=prepared.decoded,
                     prepared_s=prepared.seconds)


class Checkpoints:
    """``last.pt`` after every epoch, ``best.pt`` after the best one (rank 0 writes them):
    everything ``--resume`` needs, with the best accuracy so far kept here."""

    def __init__(self, ctx: RunContext, model: nn.Module, fit: Fit) -> None:
        self.ctx, self.model, self.fit = ctx, model, fit
        self.best_accuracy = -1.0

    def save(self, epoch: int, path, metrics: dict | None, ranks_rng: list | None = None,
             ) -> None:
        """Optimizer, schedule, scaler, best so far, random state (with several ranks, each
        one's: they augment with their own random numbers)."""
        ctx = self.ctx
        if not ctx.world.main:
            return
        best = max(self.best_accuracy, metrics["accuracy"]) if metrics else self.best_accuracy
        save_atomic({"model": self.model.state_dict(), **self.fit.state_dict(), "epoch": epoch,
                     "class_names": ctx.names, "config": ctx.opts.to_json(),
                     "metrics": metrics, "best_accuracy": best,
                     "rng": rng_state(ctx.device, self.fit.generator),
                     "rank_rng": ranks_rng}, path)

    def record(self, epoch: int, metrics: dict, ranks_rng: list | None) -> None:
        """The epoch's checkpoints, their paths on the run, the ``checkpoint`` event."""
        ctx = self.ctx
        self.save(epoch, ctx.last_path, metrics, ranks_rng)
        best = metrics["accuracy"] > self.best_accuracy
        if best:
            self.best_accuracy = metrics["accuracy"]
            self.save(epoch, ctx.best_path, metrics, ranks_rng)
        ctx.writer.must(f"epoch {epoch}'s checkpoint paths", ctx.store.update_run, ctx.run_id,
                        last_checkpoint=str(ctx.last_path), best_checkpoint=str(ctx.best_path),
                        best_accuracy=self.best_accuracy)
        ctx.emitter.emit("checkpoint", path=str(ctx.best_path if best else ctx.last_path),
                         best=best, epoch=epoch)


class StopCheck:
    """Before each step: a stop request cancels the run (``Cancelled``), where its last
    checkpoint is."""

    def __init__(self, ctx: RunContext, checkpoints: Checkpoints) -> None:
        self.ctx, self.checkpoints = ctx, checkpoints

    def __call__(self, epoch: int) -> None:
        ctx, stopper = self.ctx, self.ctx.stopper
        # With several ranks only the agreed answer counts: a signal landing on one rank
        # just after the vote must not stop that rank alone (the others would step on
        # into a collective with a closed peer, and the run fail instead of being cancelled).
        if ctx.world.distributed:
            stop = ctx.world.any(stopper.requested is not None)
            if stop:
                stopper.requested = stopper.requested or "another rank"
        else:
            stop = stopper.requested is not None
        if not stop:
            return
        last = ctx.last_path
        if epoch == 1:  # no epoch has ended: keep what it learned (for --weights)
            self.checkpoints.save(0, last, None)
            ctx.writer.must("the last checkpoint's path", ctx.store.update_run, ctx.run_id,
                            last_checkpoint=str(last))
            raise Cancelled(f"stopped by {stopper.requested} in epoch 1; last checkpoint {last}")
        # last.pt is the end of the previous epoch, where --resume goes on from
        raise Cancelled(f"stopped by {stopper.requested} in epoch {epoch}; last checkpoint "
                        f"{last} (epoch {epoch - 1}): tui-label train --resume {ctx.run_id} "
                        "goes on from there")


class StepReport:
    """After each step: ``step`` events (throttled) with the rate and the time left; after
    the first, the prediction step's libraries start loading in a thread."""

    def __init__(self, ctx: RunContext, fit: Fit) -> None:
        self.ctx, self.fit = ctx, fit
        self.start = time.monotonic()
        self.seen = 0  # images trained on, by every rank
        self.warming: threading.Thread | None = None

    def __call__(self, epoch: int, step: int, loss: torch.Tensor, images: int) -> None:
        ctx, opts, steps = self.ctx, self.ctx.opts, self.fit.steps
        self.seen += images * ctx.world.size
        if ctx.emitter.step_due() or step == steps:
            value = loss.item()  # the only sync per throttled step
            if not math.isfinite(value):
                raise NaNLoss(f"the loss became {value} in epoch {epoch}, step {step}: "
                              f"try a lower --lr than {opts.learning_rate}")
            rate = self.seen / (time.monotonic() - self.start)
            remaining = (opts.epochs * steps - ((epoch - 1) * steps + step)) \
                * self.fit.global_batch
            progress = {"epoch": epoch, "epochs": opts.epochs, "step": step, "steps": steps,
                        "loss": value, "images_per_sec": rate,
                        "eta_s": remaining / rate if rate else 0.0}
            if ctx.device.type == "cuda":
                progress.update(gpu_status(ctx.device))
            ctx.emitter.emit("step", **progress)
            ctx.writer.progress(ctx.run_id, progress)
        if self.warming is None:  # after the first step, which it would slow (it holds the GIL)
            self.warming = threading.Thread(target=_warm_up, name="warm-up imports",
                                            daemon=True)
            self.warming.start()


def _warm_up() -> None:
    """Load the prediction step's libraries while the run trains (see ``oof.warm_up``)."""
    try:
        warm_up()
    except Exception:  # the end of the run imports them again, and reports a failure
        pass


@dataclass
class EpochResult:
    """One epoch's losses, validation predictions and time."""

    epoch: int
    train_loss: float
    val_loss: float
    preds: torch.Tensor
    seconds: float


def record_epoch(ctx: RunContext, fit: Fit, prepared: Prepared, result: EpochResult) -> dict:
    """The epoch's metrics on the run and the ``epoch`` event (rank 0); returns them."""
    opts, (_, train_y, _), (_, val_y, _) = ctx.opts, prepared.train, prepared.val
    preds, epoch = result.preds, result.epoch
    if fit.multi_label:
        metrics = multi_label_report(val_y.tolist(), preds.tolist(), ctx.names, opts.threshold)
    else:
        metrics = report(confusion_matrix(val_y.tolist(), preds.tolist(), fit.num_classes),
                         ctx.names)
    rate = len(train_y) * fit.repeats / result.seconds  # a small set passes several times
    ctx.writer.must(f"epoch {epoch}'s metrics", ctx.store.add_epoch, ctx.run_id, epoch,
                    train_loss=result.train_loss, val_loss=result.val_loss,
                    report=metrics.to_dict(), seconds=result.seconds, images_per_sec=rate)
    ctx.emitter.emit("epoch", epoch=epoch, epochs=opts.epochs, train_loss=result.train_loss,
                     val_loss=result.val_loss, seconds=result.seconds, images_per_sec=rate,
                     **metrics.to_dict())
    return metrics.to_dict()


def share_cores(ctx: RunContext) -> None:
    """On the CPU: one core for the labeler, the rest shared by this machine's ranks."""
    if ctx.device.type == "cpu":
        here = int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world.size))
        torch.set_num_threads(max(1, ((os.cpu_count() or 2) - 1) // here))


def epoch_loop(ctx: RunContext, model: nn.Module, items: list[TrainingItem],
               warnings: list[str], resume: dict | None = None) -> Trained:
    """Train ``model`` on ``items`` for the run's epochs (from where ``resume``, a checked
    checkpoint, stopped). Raises ``Cancelled`` on a stop request, ``NaNLoss`` when the loss
    is not a number."""
    opts, world = ctx.opts, ctx.world
    torch.manual_seed(opts.seed)
    # Each rank augments with its own random numbers (the batch order is shared: Fit).
    generator = torch.Generator().manual_seed(opts.seed + world.rank)
    share_cores(ctx)
    prepared = prepare_data(ctx, items, warnings)
    (train_x, train_y, _), (val_x, val_y, _) = prepared.train, prepared.val
    model = place_model(ctx, model)
    unlabeled = prepared.data.unlabeled
    fit = Fit(wrap_model(ctx, model), opts, ctx.device, train_y, len(ctx.names), generator,
              world, unlabeled=unlabeled.images if unlabeled is not None else None)
    announce_start(ctx, fit, prepared)
    checkpoints = Checkpoints(ctx, model, fit)
    stop, on_step = StopCheck(ctx, checkpoints), StepReport(ctx, fit)
    first_epoch = 1
    if resume is not None:  # last: nothing may draw random numbers between this and epoch 1
        first_epoch, checkpoints.best_accuracy = restore_fit(fit, resume, ctx.device,
                                                             ctx.emitter, world)
    set_train_mode(model, opts.freeze_backbone)
    for epoch in range(first_epoch, opts.epochs + 1):
        world.barrier()  # after rank 0's writes of the last epoch: all ranks start together
        began = time.monotonic()
        train_loss = world.mean(fit.train_one_epoch(epoch, train_x, train_y, stop, on_step))
        val_loss, preds = evaluate_shared(fit, model, val_x, val_y)
        if not math.isfinite(val_loss):  # such a model must never become best.pt
            raise NaNLoss(f"the validation loss became {val_loss} in epoch {epoch}: try a "
                          f"lower --lr than {opts.learning_rate}")
        ranks_rng = world.gather(rng_state(ctx.device, generator)) if world.distributed \
            else None
        if world.main:  # rank 0 records the epoch
            result = EpochResult(epoch, train_loss, val_loss, preds, time.monotonic() - began)
            checkpoints.record(epoch, record_epoch(ctx, fit, prepared, result), ranks_rng)
    return Trained(model, prepared, checkpoints.best_accuracy, on_step.start)

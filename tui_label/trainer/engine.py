"""The training engine: snapshot labels, train, evaluate each epoch, checkpoint, report.

Runs in its own process (``tui-label train`` / ``python -m tui_label.trainer``). Everything it
learns goes to the store (run, per-epoch metrics, checkpoint paths, final status) and, live, to
stdout as events. A failure of any kind ends as a failed run with its reason. Its
database writes go through ``RunWriter`` (``writes.py``): a locked database never fails a run
for a progress update.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tui_label.media.decode_cache import DecodeCache
from tui_label.errors import UsageError
from tui_label.runs.metrics import confusion_matrix, multi_label_report, report
from tui_label.config.paths import runs_dir
from tui_label.store import Store, StoreWriteError, TrainingItem, now_iso
from tui_label.trainer import data as tdata
from tui_label.trainer.distributed import ALONE, RESUME_ENV, RUN_ID_ENV, World, epoch_order
from tui_label.runs.events import Emitter
from tui_label.trainer.models import build_model
from tui_label.runs.options import TrainOptions
from tui_label.runs.resume import resumed_options, run_to_resume
from tui_label.trainer.stopper import Stopper
from tui_label.runs.writes import RunWriter, WritePolicy

# Events, in order (see events.py): preparing, started, step, epoch, checkpoint, then after the
# last epoch fold (--folds only), predicting, predicted, and last finished / failed /
# cancelled; warning at any point.


class NaNLoss(RuntimeError):
    pass


class Cancelled(Exception):
    pass


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available")
    if requested == "mps" and not (getattr(torch.backends, "mps", None)
                                   and torch.backends.mps.is_available()):
        raise UsageError("--device mps: Apple's Metal backend is not available")
    return torch.device(requested)


def autocast_for(device: torch.device):
    """bf16 autocast on GPUs that have it, fp16 (with a grad scaler) on older ones, none on CPU."""
    if device.type != "cuda":
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


def precision_of(fit) -> str:
    """How the steps compute: ``bf16`` or ``fp16`` (autocast on a GPU) or ``fp32``."""
    autocast = fit.autocast
    if isinstance(autocast, torch.autocast):
        return "bf16" if autocast.fast_dtype == torch.bfloat16 else "fp16"
    return "fp32"


def save_atomic(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def logits_of(output) -> torch.Tensor:
    """Inception and GoogLeNet return (logits, aux) tuples in train mode: the logits."""
    return getattr(output, "logits", output)


def loss_of(logits: torch.Tensor, y: torch.Tensor, multi_label: bool,
            weight: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """The training loss: cross-entropy over the classes (softmax) for class columns, or in
    multi-label mode binary cross-entropy per class (a sigmoid each) for multi-hot rows, with
    ``weight`` as each class's positive weight."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight,
                                                  reduction=reduction)
    return F.cross_entropy(logits, y, weight=weight, reduction=reduction)


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


def set_train_mode(model: nn.Module, frozen: bool) -> None:
    """Train mode; with a frozen backbone its batch-norm statistics stay frozen too."""
    model.train()
    if frozen:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                    p.requires_grad for p in module.parameters()):
                module.eval()


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
             device: torch.device, batch_size: int, autocast, channels_last: bool,
             frozen: bool = False, multi_label: bool = False):
    """Validation loss and predictions, under no-grad; puts the model back in train mode.

    The predictions are the top class of each image, or in multi-label mode each class's
    sigmoid probability (N x classes); the loss is per image, or per image and class."""
    model.eval()
    total_loss, predictions = 0.0, []
    with torch.no_grad(), autocast:
        order = torch.arange(len(labels))
        stream = tdata.prefetched(images, tdata.batches(order, batch_size))
        with closing(stream):
            for idx, batch in stream:
                x = tdata.normalize(batch.to(device, non_blocking=True))
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                logits = model(x).float()
                y = labels[idx].to(device)
                total_loss += loss_of(logits, y, multi_label, reduction="sum").item()
                predictions.append((logits.sigmoid() if multi_label else logits.argmax(1)).cpu())
    set_train_mode(model, frozen)
    if predictions:
        preds = torch.cat(predictions)
    else:
        preds = torch.empty((0, num_classes)) if multi_label else torch.empty(0, dtype=torch.long)
    per = num_classes if multi_label else 1  # BCE's sum is over images and classes
    return total_loss / max(len(labels) * per, 1), preds


def gpu_status(device: torch.device) -> dict:
    """The GPU's peak memory in this run and, where NVML can be read (the ``nvidia-ml-py``
    package), its utilisation in percent."""
    status = {"gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20}
    try:
        status["gpu_util"] = float(torch.cuda.utilization(device))
    except Exception:  # no NVML here: memory only
        pass
    return status


def evaluate_shared(world: World, model: nn.Module, images, labels: torch.Tensor,
                    num_classes: int, device: torch.device, batch_size: int, autocast,
                    channels_last: bool, frozen: bool = False, multi_label: bool = False):
    """``evaluate`` with every rank taking its share of the images, gathered: the loss and
    the predictions of all of them, in order, on every rank."""
    if not world.distributed:
        return evaluate(model, images, labels, num_classes, device, batch_size, autocast,
                        channels_last, frozen, multi_label)
    mine = torch.arange(len(labels))[world.rank::world.size]
    loss, preds = evaluate(model, tdata.subset(images, mine), labels[mine], num_classes,
                           device, batch_size, autocast, channels_last, frozen, multi_label)
    total = 0.0
    out = torch.empty((len(labels), *preds.shape[1:]), dtype=preds.dtype)
    for positions, part_loss, part_preds in world.gather((mine, loss * len(mine), preds)):
        out[positions] = part_preds
        total += part_loss
    return total / max(len(labels), 1), out


def train(opts: TrainOptions, emitter: Emitter, stopper: Stopper | None = None,
          writes: WritePolicy | None = None) -> int:
    """Run one training run to its end. Returns the process exit code (0 finished,
    1 failed, 130 cancelled). Raises ``UsageError`` before a run exists: bad settings, or a
    ``StoreWriteError`` when the run cannot even be recorded."""
    opts.validate()
    stopper = stopper or Stopper()
    writes = writes or WritePolicy()
    if opts.nice:
        os.nice(opts.nice)
    world = World.from_env()
    if not launched(world):
        if opts.resume is not None:  # the run's settings decide how many processes it takes
            opts = resume_settings(opts, writes)
        if opts.gpus or opts.nproc:
            from tui_label.trainer import launch  # --gpus / --nproc: start the ranks

            return launch.launch(opts, emitter, stopper, writes)
    if not world.main:  # rank 0 alone writes to the store and sends events
        store = Store(opts.db, readonly=True)
        emitter = Emitter("json", stream=open(os.devnull, "w"))  # noqa: SIM115
        writer: RunWriter | NoWrites = NoWrites()
    else:
        store = Store(opts.db, busy_timeout_ms=writes.busy_timeout_ms)
        writer = RunWriter(store, emitter, writes)
    try:
        return _train(opts, store, writer, emitter, stopper, world)
    finally:
        store.close()
        world.stop()


def launched(world: World) -> bool:
    """Whether this process is a rank started by ``launch`` (the run is the launcher's)."""
    return world.distributed or (RUN_ID_ENV in os.environ and "WORLD_SIZE" in os.environ)


def resume_settings(opts: TrainOptions, writes: WritePolicy) -> TrainOptions:
    """``--resume``: the run's own settings (checked: ``run_to_resume``), with what may change
    taken from ``opts``."""
    store = Store(opts.db, readonly=True, busy_timeout_ms=writes.busy_timeout_ms)
    try:
        resumed = resumed_options(opts, run_to_resume(store, opts.resume,
                                                      joining=opts.node_rank > 0))
    finally:
        store.close()
    # The processes and machines, now that the run's are known (its starting weights are its
    # checkpoint: a --weights file it began from may be gone).
    replace(resumed, resume=None, weights=None, pretrained=False).validate()
    return resumed


class NoWrites:
    """The writer of ranks other than 0: they never write to the store."""

    def must(self, what: str, write, *args, **kwargs):
        return None

    def progress(self, run_id: int, progress: dict) -> bool:
        return False


def plan(opts: TrainOptions, store: Store, warn: Callable[[str], None] = lambda m: None,
         ) -> tuple[Path, list, dict[int, int], list[str]]:
    """What a run trains on: the dataset folder, the labeled items, the column of each class
    id and the class names. Raises ``UsageError`` when there is not enough to train; ``warn``
    gets what it trains on with a caveat."""
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
        return root, items, index_of, names
    sets = sum(1 for it in items if it.class_id is None)
    if sets:
        raise UsageError(f"{sets} image(s) are labeled with a set of classes: they need a "
                         "multi-label run (tui-label label --multi-label switches the database)")
    for message in check_labels(names, [index_of[it.class_id] for it in items]):
        warn(message)
    return root, items, index_of, names


def rank_device(opts: TrainOptions, world: World) -> torch.device:
    device = pick_device(opts.device)
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    return device


def _train(opts: TrainOptions, store: Store, writer: RunWriter | NoWrites, emitter: Emitter,
           stopper: Stopper, world: World = ALONE) -> int:
    resume = None  # --resume: the run row and its last checkpoint, both checked
    if opts.resume is not None:
        run = run_to_resume(store, opts.resume)
        opts = resumed_options(opts, run)
        resume = (run, resume_checkpoint(run))
    from_launcher = launched(world)  # the launcher made (or reopened) the run
    resuming = resume is not None or (from_launcher and bool(os.environ.get(RESUME_ENV)))
    opts = label_mode(opts, store)
    warnings: list[str] = []
    root, items, index_of, names = plan(opts, store, warnings.append)
    device = rank_device(opts, world)
    world.start(device)
    torch.manual_seed(opts.seed)  # the initial weights too: same seed, same run
    # A resumed run's weights are in its checkpoint: no pretrained or --weights file needed.
    model = build_model(opts.model, len(names),
                        pretrained=False if resuming else opts.pretrained,
                        weights_file=None if resuming else opts.weights,
                        freeze_backbone=opts.freeze_backbone, warn=warnings.append)
    if from_launcher:  # rank 0 tells the others the run's id
        run_id = world.broadcast(int(os.environ[RUN_ID_ENV]) if world.main else None)
        if resuming:  # reopened and checked by the launcher: every rank loads its checkpoint
            run = at_this_machine(store.run(run_id), opts.db)
            resume = (run, resume_checkpoint(run))
            load_resumed_weights(model, resume[1], run)
    elif resume is None:
        DecodeCache.open(opts.db, opts.size).close()  # one that cannot be: before a run exists
        store.try_reap_dead_runs(1000)  # runs killed before: failed, as the labeler does
        run_id = writer.must("the new run", store.create_run, opts.model, opts.to_json(),
                             names)
    else:
        load_resumed_weights(model, resume[1], resume[0])
        run_id = reopen(store, writer, *resume)
    emitter.run_id = run_id
    try:
        return _run(opts, store, writer, emitter, stopper, run_id, root, items, index_of,
                    names, device, model, warnings, resume[1] if resume else None, world)
    except Cancelled as exc:
        reason = str(exc)
        try:
            writer.must("the cancelled status", store.update_run, run_id, status="cancelled",
                        reason=reason)
        except StoreWriteError as write_exc:
            reason = f"{reason}; {write_exc}"
        emitter.emit("cancelled", reason=reason)
        return 130
    except (NaNLoss, StoreWriteError) as exc:
        return _fail(store, writer, emitter, run_id, str(exc))
    except torch.cuda.OutOfMemoryError:
        return _fail(store, writer, emitter, run_id,
                     f"CUDA out of memory at batch size {opts.batch_size}: try --batch-size "
                     f"{max(1, opts.batch_size // 2)} or a smaller --image-size")
    except Exception as exc:  # anything else still ends as a failed run, with its reason
        import traceback

        traceback.print_exc()  # stderr, for whoever debugs it
        return _fail(store, writer, emitter, run_id, f"{type(exc).__name__}: {exc}")


def _fail(store: Store, writer: RunWriter, emitter: Emitter, run_id: int, reason: str) -> int:
    """Record and announce a failed run. When even that write fails, the event still goes out
    (and the labeler later reaps the run, whose process is gone, as failed)."""
    try:
        writer.must("the failed status", store.update_run, run_id, status="failed",
                    reason=reason)
    except StoreWriteError as exc:
        reason = f"{reason}; {exc}"
    emitter.emit("failed", reason=reason)
    return 1


def _unreadable_warning(skipped: list[tuple[str, str]]) -> str:
    """One line: how many labeled images were left out, and why for the first few."""
    shown = ", ".join(f"{path} ({reason})" for path, reason in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return (f"{len(skipped)} labeled image(s) could not be read and are left out: "
            f"{shown}{more}")


class Fit:
    """One model's optimizer, learning-rate schedule and loss: ``epoch()`` trains one pass.

    The run trains one; ``--folds K`` trains K more, each without one fold of the labels.
    """

    def __init__(self, model: nn.Module, opts: TrainOptions, device: torch.device,
                 train_y: torch.Tensor, num_classes: int, generator: torch.Generator,
                 world: World = ALONE) -> None:
        """``world``: with several ranks, ``model`` is the DDP-wrapped one; each rank takes
        its share of every epoch's order, in batches of ``--batch-size / ranks``."""
        self.model, self.opts, self.device, self.generator = model, opts, device, generator
        self.world = world
        # A batch larger than the training set is the set (each step drew the whole
        # --batch-size from it: 100,000 images a step from 107).
        n = len(train_y)
        self.global_batch = min(opts.batch_size, max(world.size, n - n % world.size))
        self.batch_size = self.global_batch // world.size
        self.num_classes = num_classes
        self.channels_last = device.type == "cuda"
        self.autocast, self.scaler = autocast_for(device)
        self.multi_label = bool(opts.multi_label)
        self.weight = None
        if opts.balance == "loss" and self.multi_label:
            # Each class's positives weigh as much as its negatives (BCE's pos_weight).
            positives = train_y.sum(0)
            self.weight = ((len(train_y) - positives) / positives.clamp(min=1)).clamp(min=1.0)
            self.weight = self.weight.to(device)
        elif opts.balance == "loss":
            counts = torch.bincount(train_y, minlength=num_classes).clamp(min=1).float()
            self.weight = (counts.sum() / (num_classes * counts)).to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=opts.learning_rate, weight_decay=5e-4)
        # A small set is passed over several times an epoch, so that a run takes enough steps
        # to learn: 63 labels at batch 64 would otherwise be 10 steps in 10 epochs.
        self.repeats = tdata.epoch_repeats(len(train_y), self.global_batch)
        self.steps = tdata.steps_per_epoch(
            math.ceil(len(train_y) * self.repeats / world.size), self.batch_size)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=opts.learning_rate, total_steps=self.steps * opts.epochs,
            pct_start=0.15)

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

    def epoch(self, epoch: int, train_x: torch.Tensor, train_y: torch.Tensor,
              check: Callable[[int], None] = lambda epoch: None,
              on_step: Callable[[int, int, torch.Tensor, int], None] | None = None) -> float:
        """One pass over the training images; returns the mean training loss.

        ``check(epoch)`` runs before each step (it raises to stop), ``on_step(epoch, step,
        loss, images)`` after it.
        """
        opts = self.opts
        if self.world.distributed:  # the same order on every rank, each takes its share
            shared = torch.Generator().manual_seed(opts.seed * 100_003 + epoch)
            order = self.world.shard(torch.cat([
                tdata.balanced_order(train_y, self.num_classes, shared)
                for _ in range(self.repeats)]) if opts.balance == "sampler"
                else epoch_order(len(train_y), opts.seed, epoch, self.repeats))
        elif opts.balance == "sampler":
            order = torch.cat([tdata.balanced_order(train_y, self.num_classes, self.generator)
                               for _ in range(self.repeats)])
        else:
            order = torch.cat([torch.randperm(len(train_y), generator=self.generator)
                               for _ in range(self.repeats)])
        loss_sum = torch.zeros((), device=self.device)
        # closing: a stop mid-epoch ends the reads ahead before the cache may be closed
        steps = tdata.prefetched(train_x, tdata.batches(order, self.batch_size))
        with closing(steps) as stream:
            for step, (idx, images) in enumerate(stream, start=1):
                check(epoch)
                x = tdata.augment(images, hflip=opts.hflip, generator=self.generator)
                y = train_y[idx].to(self.device, non_blocking=True)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with self.autocast:
                    loss = loss_of(logits_of(self.model(x)).float(), y, self.multi_label,
                                   weight=self.weight)
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
                loss_sum += loss.detach()
                if on_step is not None:
                    on_step(epoch, step, loss, len(idx))
        train_loss = (loss_sum / self.steps).item()
        if not math.isfinite(train_loss):
            raise NaNLoss(f"the loss became {train_loss} in epoch {epoch}: try a lower --lr "
                          f"than {opts.learning_rate}")
        return train_loss


def _run(opts, store, writer, emitter, stopper, run_id, root, items, index_of, names, device,
         model, warnings, resume: dict | None = None, world: World = ALONE) -> int:
    torch.manual_seed(opts.seed)
    # Each rank augments with its own random numbers (the batch order is shared: Fit.epoch).
    generator = torch.Generator().manual_seed(opts.seed + world.rank)
    if device.type == "cpu":  # one core for the labeler; the rest shared by this machine's ranks
        here = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
        torch.set_num_threads(max(1, ((os.cpu_count() or 2) - 1) // here))

    split = world.broadcast(writer.must("the train/validation split", store.assign_splits,
                                        items, opts.val_fraction) if world.main else None)
    for message in warnings:
        emitter.emit("warning", message=message)
    cpu_workers = max(1, (os.cpu_count() or 2) - 1)

    decoded = [0, 0]  # images decoded: by the passes before this one, by this one so far

    def progress(done: int, total: int, decoded_now: int) -> None:
        decoded[1] = decoded_now
        emitter.emit("preparing", done=done, total=total, decoded=decoded_now)

    def check_stop() -> None:
        if stopper.requested:
            raise Cancelled(f"stopped by {stopper.requested} while decoding images")

    skipped: list[tuple[str, str]] = []  # (path, why), for the warning
    # Every image decoded once per size, beside the database: a later run (and the
    # predictions) reads what an earlier one decoded. Open while the run streams from it.
    cache = DecodeCache.open(opts.db, opts.size)

    def prepare(subset):
        images, kept = tdata.from_cache(
            cache, [(it.image_id, root / it.path) for it in subset], workers=cpu_workers,
            progress=progress, check=check_stop,
            skipped=lambda i, reason: skipped.append((subset[i].path, reason)))
        decoded[:] = [decoded[0] + decoded[1], 0]
        labels = targets([subset[i] for i in kept], index_of, bool(opts.multi_label))
        return images, labels, [subset[i] for i in kept]

    train_items = [it for it in items if split[it.image_id] == "train"]
    val_items = [it for it in items if split[it.image_id] == "val"]
    preparing = time.monotonic()
    train_x, train_y, train_kept = prepare(train_items)
    val_x, val_y, val_kept = prepare(val_items)
    if skipped:
        emitter.emit("warning", message=_unreadable_warning(skipped))
    if len(train_y) == 0 or len(val_y) == 0:
        raise RuntimeError("no readable images left in the training or validation split")

    channels_last = device.type == "cuda"
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    # A small set is read into memory once (onto the GPU for CUDA: no copies per step); a
    # large one streams from the cache a batch at a time.
    whole = tdata.in_memory(train_x, val_x)
    train_x, val_x = train_x.ready(device, whole), val_x.ready(device, whole)
    if whole:
        cache.close()
    prepared_s = time.monotonic() - preparing  # decoding or reading: what the cache saves
    num_classes = len(names)
    trained = model  # what the steps run: DDP averages the gradients over the ranks
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if opts.compile:  # slower first steps, faster ones after (mostly on CUDA)
        trained = torch.compile(trained)
    fit = Fit(trained, opts, device, train_y, num_classes, generator, world)
    steps = fit.steps
    if fit.global_batch < opts.batch_size:
        emitter.emit("warning", message=f"--batch-size {opts.batch_size} is more than the "
                     f"{len(train_y)} training images: batches of {fit.global_batch}")

    writer.must("the run's device and split sizes", store.update_run, run_id,
                device=str(device), num_train=len(train_y), num_val=len(val_y))
    emitter.emit("started", model=opts.model, device=str(device), precision=precision_of(fit),
                 classes=names,
                 num_train=len(train_y), num_val=len(val_y), epochs=opts.epochs, steps=steps,
                 image_size=opts.size, world_size=world.size, config=opts.to_json(),
                 decoded=decoded[0], prepared_s=prepared_s)
    # Absolute: the stored paths must resolve from any working directory (the labeler's).
    out_dir = runs_dir(opts.db.resolve()) / f"run-{run_id}"
    best_acc, best_path, last_path = -1.0, out_dir / "best.pt", out_dir / "last.pt"
    start = time.monotonic()
    seen = 0

    def checkpoint(epoch: int, path: Path, metrics: dict | None,
                   ranks_rng: list | None = None) -> None:
        if not world.main:
            return
        # Everything --resume needs: optimizer, schedule, scaler, best so far, random state
        # (with several ranks, each one's: they augment with their own random numbers).
        best = max(best_acc, metrics["accuracy"]) if metrics else best_acc
        save_atomic({"model": model.state_dict(), **fit.state_dict(), "epoch": epoch,
                     "class_names": names, "config": opts.to_json(), "metrics": metrics,
                     "best_accuracy": best, "rng": rng_state(device, fit.generator),
                     "rank_rng": ranks_rng}, path)

    def check(epoch: int) -> None:
        # With several ranks only the agreed answer counts: a signal landing on one rank
        # just after the vote must not stop that rank alone (the others would step on
        # into a collective with a closed peer, and the run fail instead of being cancelled).
        if world.distributed:
            stop = world.any(stopper.requested is not None)
            if stop:
                stopper.requested = stopper.requested or "another rank"
        else:
            stop = stopper.requested is not None
        if stop:
            if epoch == 1:  # no epoch has ended: keep what it learned (for --weights)
                checkpoint(0, last_path, None)
                writer.must("the last checkpoint's path", store.update_run, run_id,
                            last_checkpoint=str(last_path))
                raise Cancelled(f"stopped by {stopper.requested} in epoch 1; last "
                                f"checkpoint {last_path}")
            # last.pt is the end of the previous epoch, where --resume goes on from
            raise Cancelled(f"stopped by {stopper.requested} in epoch {epoch}; last "
                            f"checkpoint {last_path} (epoch {epoch - 1}): tui-label train "
                            f"--resume {run_id} goes on from there")

    warming: list[threading.Thread] = []

    def on_step(epoch: int, step: int, loss: torch.Tensor, images: int) -> None:
        nonlocal seen
        seen += images * world.size
        if emitter.step_due() or step == steps:
            value = loss.item()  # the only sync per throttled step
            if not math.isfinite(value):
                raise NaNLoss(f"the loss became {value} in epoch {epoch}, step {step}: "
                              f"try a lower --lr than {opts.learning_rate}")
            elapsed = time.monotonic() - start
            rate = seen / elapsed
            remaining = (opts.epochs * steps - ((epoch - 1) * steps + step)) * fit.global_batch
            progress = {"epoch": epoch, "epochs": opts.epochs, "step": step, "steps": steps,
                        "loss": value, "images_per_sec": rate,
                        "eta_s": remaining / rate if rate else 0.0}
            if device.type == "cuda":
                progress.update(gpu_status(device))
            emitter.emit("step", **progress)
            writer.progress(run_id, progress)
        if not warming:  # after the first step, which it would slow down (it holds the GIL)
            warming.append(threading.Thread(target=_warm_up, name="warm-up imports",
                                            daemon=True))
            warming[0].start()

    first_epoch = 1
    if resume is not None:  # last: nothing may draw random numbers between this and epoch 1
        first_epoch, best_acc = restore_fit(fit, resume, device, emitter, world)
    set_train_mode(model, opts.freeze_backbone)
    for epoch in range(first_epoch, opts.epochs + 1):
        world.barrier()  # after rank 0's writes of the last epoch: all ranks start together
        epoch_start = time.monotonic()
        train_loss = world.mean(fit.epoch(epoch, train_x, train_y, check, on_step))
        val_loss, preds = evaluate_shared(world, model, val_x, val_y, num_classes, device,
                                          fit.batch_size, fit.autocast, channels_last,
                                          opts.freeze_backbone, fit.multi_label)
        if not math.isfinite(val_loss):  # such a model must never become best.pt
            raise NaNLoss(f"the validation loss became {val_loss} in epoch {epoch}: try a "
                          f"lower --lr than {opts.learning_rate}")
        ranks_rng = world.gather(rng_state(device, fit.generator)) if world.distributed \
            else None
        if not world.main:
            continue  # rank 0 records the epoch
        if fit.multi_label:
            metrics = multi_label_report(val_y.tolist(), preds.tolist(), names, opts.threshold)
        else:
            metrics = report(confusion_matrix(val_y.tolist(), preds.tolist(), num_classes),
                             names)
        seconds = time.monotonic() - epoch_start
        rate = len(train_y) * fit.repeats / seconds  # a small set passes several times
        writer.must(f"epoch {epoch}'s metrics", store.add_epoch, run_id, epoch,
                    train_loss=train_loss, val_loss=val_loss, report=metrics.to_dict(),
                    seconds=seconds, images_per_sec=rate)
        emitter.emit("epoch", epoch=epoch, epochs=opts.epochs, train_loss=train_loss,
                     val_loss=val_loss, seconds=seconds, images_per_sec=rate,
                     **metrics.to_dict())
        checkpoint(epoch, last_path, metrics.to_dict(), ranks_rng)
        best = metrics.accuracy > best_acc
        if best:
            best_acc = metrics.accuracy
            checkpoint(epoch, best_path, metrics.to_dict(), ranks_rng)
        writer.must(f"epoch {epoch}'s checkpoint paths", store.update_run, run_id,
                    last_checkpoint=str(last_path), best_checkpoint=str(best_path),
                    best_accuracy=best_acc)
        emitter.emit("checkpoint", path=str(best_path if best else last_path), best=best,
                     epoch=epoch)
    data = TrainedData([(train_x, train_y, train_kept), (val_x, val_y, val_kept)])
    shared = None
    if world.distributed:
        world.barrier()  # rank 0's last epoch (and best.pt) is written
        # Every rank predicts its share of the images; rank 0 alone does the rest (the folds,
        # the linear head, the store): no collective after this.
        shared = _predict_shares(opts, store, emitter, stopper, run_id, root, device, model,
                                 best_path, data, world)
        world.stop()
        if not world.main:
            cache.close()
            return 0
    # The run stays "running" until its predictions are stored; a failure there is a warning
    # (and the reason on the finished run): the trained model is never lost to it.
    problem = _predict_at_end(opts, store, writer, emitter, stopper, run_id, root, names,
                              device, model, best_path, data, shared)
    cache.close()
    writer.must("the finished status", store.update_run, run_id, status="finished",
                reason=problem)
    emitter.emit("finished", best_accuracy=best_acc, best_checkpoint=str(best_path),
                 last_checkpoint=str(last_path), seconds=time.monotonic() - start)
    return 0


# -- resuming a run (--resume) -------------------------------------------------------------


def rng_state(device: torch.device, generator: torch.Generator) -> dict:
    """The random state a resumed run continues with: torch's global one (dropout), the
    run's generator (batch order, augmentation) and, on a GPU, its own."""
    return {"torch": torch.get_rng_state(), "generator": generator.get_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


RESUME_KEYS = ("model", "optimizer", "scheduler", "epoch", "class_names", "config",
               "best_accuracy", "rng", "steps_per_epoch")


def at_this_machine(run: dict, db: Path) -> dict:
    """``run`` with its last checkpoint where this machine sees it: in the runs folder beside
    its own path to the database (another machine of the run may mount it elsewhere)."""
    if not run["last_checkpoint"]:
        return run
    here = runs_dir(Path(db).resolve()) / f"run-{run['id']}" / Path(run["last_checkpoint"]).name
    return {**run, "last_checkpoint": str(here)}


def resume_checkpoint(run: dict) -> dict:
    """Run ``run``'s last checkpoint, checked (on the CPU: the model is not built yet).

    Raises:
        UsageError: it is not a tui-label checkpoint, not this run's, or has no finished epoch
            or no optimizer state to continue from.
    """
    run_id, path = run["id"], Path(run["last_checkpoint"])
    what = f"--resume {run_id}"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"{what}: run {run_id}'s last checkpoint {path} is missing") from None
    except Exception:  # text, a cut file, pickled objects: not what a run writes
        raise UsageError(f"{what}: {path} is not a tui-label checkpoint") from None
    if not isinstance(ckpt, dict) or not {"model", "epoch", "class_names"} <= ckpt.keys():
        raise UsageError(f"{what}: {path} is not a tui-label checkpoint")
    if ckpt["class_names"] != run["class_names"]:
        raise UsageError(f"{what}: {path} is not run {run_id}'s checkpoint (other classes)")
    if not isinstance(ckpt["epoch"], int) or ckpt["epoch"] < 1:
        raise UsageError(f"{what}: run {run_id} stopped in its first epoch: there is no "
                         "finished epoch to resume from; start a new run")
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    if missing:
        raise UsageError(f"{what}: {path} lacks the {missing[0]} state a resume needs (written "
                         f"by an older tui-label?); start a new run, with --weights {path} "
                         "to begin from it")
    return ckpt


def reopen(store: Store, writer, run: dict, ckpt: dict) -> int:
    """Take the checked run over for this process (``Store.reopen_run``); returns its id.

    Raises:
        UsageError: another process changed the run since it was checked.
    """
    run_id = run["id"]
    if not writer.must(f"run {run_id}'s restart", store.reopen_run, run_id,
                       status=run["status"], pid=run["pid"], last_epoch=ckpt["epoch"]):
        raise UsageError(f"--resume {run_id}: run {run_id} changed while it was being "
                         "resumed (another trainer took it over?)")
    return run_id


def load_resumed_weights(model: nn.Module, ckpt: dict, run: dict) -> None:
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError):  # another model's weights under this run's name
        raise UsageError(f"--resume {run['id']}: {run['last_checkpoint']} does not hold "
                         f"weights of run {run['id']}'s model ({run['model']})") from None


def restore_fit(fit: Fit, ckpt: dict, device: torch.device, emitter: Emitter,
                world: World = ALONE) -> tuple[int, float]:
    """Put the optimizer, schedule, scaler and random state back as they were when ``ckpt``
    was saved. Returns the epoch to continue with and the best accuracy so far.

    With as many ranks as when it was saved, each rank gets its own random state back (the
    run goes on as if never stopped); with another number of ranks, rank 0 gets rank 0's and
    the others a generator of their own, seeded from the run's seed, rank and epoch."""
    fit.load_state_dict(ckpt)
    if ckpt["steps_per_epoch"] != fit.steps:
        emitter.emit("warning", message=f"the run now has {fit.steps} steps per epoch, it had "
                     f"{ckpt['steps_per_epoch']} (the labels or the number of processes "
                     "changed since it stopped): the learning-rate schedule keeps its "
                     "original length")
    saved = ckpt.get("rank_rng") or [ckpt["rng"]]
    rng = saved[world.rank] if len(saved) == world.size or world.rank == 0 else None
    if rng is None:
        fit.generator.manual_seed(fit.opts.seed * 100_003 + world.rank * 1_009 + ckpt["epoch"])
        return ckpt["epoch"] + 1, float(ckpt["best_accuracy"])
    torch.set_rng_state(rng["torch"])
    fit.generator.set_state(rng["generator"])
    if device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)
    return ckpt["epoch"] + 1, float(ckpt["best_accuracy"])


# -- after training: predictions, out-of-sample probabilities -------------------------------


@dataclass
class TrainedData:
    """Every labeled image the run decoded, as ``(images, labels, items)`` blocks (training,
    validation) where ``items[k]`` is ``images[k]``: reused for the predictions and the folds,
    never decoded twice."""

    blocks: list[tuple[torch.Tensor, torch.Tensor, list]]

    def cached(self) -> list:
        from tui_label.trainer.predict import Cached

        return [Cached([it.image_id for it in items], images)
                for images, _, items in self.blocks]

    def joined(self) -> tuple[torch.Tensor, torch.Tensor, list]:
        """All blocks as one (a copy: only the folds need it)."""
        return (tdata.concat([b[0] for b in self.blocks]),
                torch.cat([b[1] for b in self.blocks]),
                [it for b in self.blocks for it in b[2]])


def _warm_up() -> None:
    """Load the prediction step's libraries while the run trains (see ``predict.warm_up``)."""
    try:
        from tui_label.trainer import predict

        predict.warm_up()
    except Exception:  # the end of the run imports them again, and reports a failure
        pass


MULTI_LABEL_NO_PREDICTIONS = (
    "multi-label run: no predictions, suggestions or suspect labels are stored (they are "
    "single-label); its model is in its checkpoints")


def _prediction_problem(exc: BaseException, opts: TrainOptions, run_id: int | None) -> str:
    """Why there are no predictions, in one line (the run is trained: it stays finished)."""
    if isinstance(exc, Cancelled):
        return f"no predictions: {exc}"
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return (f"no predictions: CUDA out of memory at batch size {opts.batch_size}; run "
                f"tui-label predict --run {run_id} --batch-size {max(1, opts.batch_size // 2)}")
    import traceback

    traceback.print_exc()  # stderr, for whoever debugs it
    return f"no predictions: {type(exc).__name__}: {exc}"


SHARE_POLL_S = 0.2  # how often rank 0 looks for the other ranks' predictions


def _predict_shares(opts, store, emitter, stopper, run_id, root, device, model, best_path,
                    data: TrainedData, world: World):
    """Every rank of a run predicts its share of the images with the best weights. On rank
    0: ``((ids, probs, embeddings), as_of)`` of all of them, or a string saying why there are
    none; None elsewhere.

    The shares meet in files beside the run (the ranks may be on several machines that share
    the database's folder), named with a token of this attempt, not through the process
    group: predicting may take far longer than a collective may wait, and a rank that fails
    early must not time the others out. Rank 0 waits for every rank's file (its predictions,
    or the line saying why it has none), and stops waiting at the first such line or on a
    stop request."""
    from tui_label.trainer import predict

    if opts.multi_label:
        return None  # none are stored (_predict_at_end says so)
    folder = best_path.parent
    token, as_of = world.broadcast(
        (os.urandom(6).hex(), (now_iso(), store.last_event_id())) if world.main else None)

    def share(rank: int, suffix: str) -> Path:
        return folder / f"predictions-{token}-rank{rank}{suffix}"

    def check() -> None:
        if stopper.requested:
            raise Cancelled(f"stopped by {stopper.requested}")

    try:
        state = torch.load(best_path, map_location=device, weights_only=True)["model"]
        model.load_state_dict(state)
        here = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
        ids, probs, embeddings = predict.predict_images(
            predict.Predictor(model, device, opts.batch_size), store, root, opts.size,
            emitter, cached=data.cached(), check=check, share=(world.rank, world.size),
            workers=max(1, ((os.cpu_count() or 2) - 1) // here))
        with open(share(world.rank, ".part"), "wb") as out:
            np.savez(out, ids=ids, probs=probs, embeddings=embeddings)
        os.replace(share(world.rank, ".part"), share(world.rank, ".npz"))
    except Exception as exc:
        problem = _prediction_problem(exc, opts, run_id)
        if world.rank:
            problem = problem.replace("no predictions: ", f"no predictions: rank {world.rank}: ")
        share(world.rank, ".part").write_text(problem)
        os.replace(share(world.rank, ".part"), share(world.rank, ".problem"))
    if not world.main:
        return None
    try:
        while True:  # the first problem ends the wait: no predictions either way
            failed = [r for r in range(world.size) if share(r, ".problem").exists()]
            if failed:
                return share(failed[0], ".problem").read_text()
            if all(share(r, ".npz").exists() for r in range(world.size)):
                break
            check()
            time.sleep(SHARE_POLL_S)
        parts = []
        for rank in range(world.size):
            with np.load(share(rank, ".npz")) as part:
                parts.append((part["ids"], part["probs"], part["embeddings"]))
        ids = np.concatenate([p[0] for p in parts])
        order = np.argsort(ids, kind="stable")
        return (ids[order], np.concatenate([p[1] for p in parts])[order],
                np.concatenate([p[2] for p in parts])[order]), as_of
    except Exception as exc:  # a stop while waiting, a share that cannot be read: trained all
        return _prediction_problem(exc, opts, run_id)  # the same, the run is kept
    finally:
        for path in folder.glob("predictions-*-rank*"):  # this attempt's, and any left over
            path.unlink(missing_ok=True)


def _predict_at_end(opts, store, writer, emitter, stopper, run_id, root, names, device,
                    model, best_path, data: TrainedData, shared=None) -> str | None:
    """Predict every image with the best weights (and fine-tune the folds with ``--folds``).
    ``shared``: what ``_predict_shares`` returned (a run of several ranks). Returns None, or
    why there are no predictions (announced as a warning)."""
    from tui_label.trainer import predict  # it imports this module: loaded here, not on top

    def check(epoch: int = 0) -> None:
        if stopper.requested:
            raise Cancelled(f"stopped by {stopper.requested}")

    if opts.multi_label:
        emitter.emit("warning", message=MULTI_LABEL_NO_PREDICTIONS)
        return None
    if isinstance(shared, str):  # a rank could not predict its share
        emitter.emit("warning", message=shared)
        return shared
    predicted, as_of = shared if shared is not None else (None, None)
    try:
        oof = None
        if opts.folds:
            oof = fine_tune_folds(opts, emitter, names, device, data, check)
        state = torch.load(best_path, map_location=device, weights_only=True)["model"]
        model.load_state_dict(state)
        run_model = predict.RunModel(run_id, model, best_path, names, opts)
        predict.predict_run(store, run_model, root, emitter, device=device,
                            batch_size=opts.batch_size, cached=data.cached(),
                            oof=oof, check=check, write=writer.must, predicted=predicted,
                            as_of=as_of)
        return None
    except Exception as exc:  # the run is trained: say why, keep it
        reason = _prediction_problem(exc, opts, run_id)
    emitter.emit("warning", message=reason)
    return reason


def fine_tune_folds(opts: TrainOptions, emitter: Emitter, names: list[str],
                    device: torch.device, data: TrainedData,
                    check: Callable[[int], None]) -> tuple[np.ndarray, np.ndarray]:
    """``--folds K``: train K models with the run's settings, each on the labeled images
    outside one fold, and predict that fold. Returns ``(image ids, probabilities)``: every
    labeled image's probabilities from the model that never saw its label."""
    from tui_label.trainer import predict

    images, labels, items = data.joined()
    columns = labels.cpu().numpy()
    folds = predict.assign_folds(columns, [it.path for it in items], opts.folds)
    ids, probs = [], []
    for fold in range(opts.folds):
        held = np.flatnonzero(folds == fold)
        if len(held) == 0:
            continue
        train_idx = torch.from_numpy(np.flatnonzero(folds != fold))
        emitter.emit("fold", fold=fold + 1, folds=opts.folds, num_train=len(train_idx),
                     num_held_out=len(held))
        torch.manual_seed(opts.seed + fold + 1)
        model = build_model(opts.model, len(names), pretrained=opts.pretrained,
                            weights_file=opts.weights, freeze_backbone=opts.freeze_backbone)
        model = model.to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        x = tdata.subset(images, train_idx)
        y = labels[train_idx]
        generator = torch.Generator().manual_seed(opts.seed + fold + 1)
        fit = Fit(model, opts, device, y, len(names), generator)
        set_train_mode(model, opts.freeze_backbone)
        for epoch in range(1, opts.epochs + 1):
            fit.epoch(epoch, x, y, check)
        held_probs, _ = predict.Predictor(model, device, opts.batch_size)(
            images[torch.from_numpy(held).to(images.device)], check)
        ids.append(np.asarray([items[i].image_id for i in held], dtype=np.int64))
        probs.append(held_probs)
    return np.concatenate(ids), np.concatenate(probs)


def load_checkpoint(path: Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model of a checkpoint (for prediction); returns it in eval mode and the
    checkpoint dict."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = build_model(ckpt["config"]["model"], len(ckpt["class_names"]), pretrained=False)
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities for a uint8 NCHW batch."""
    with torch.no_grad():
        return model(tdata.normalize(images)).softmax(1)

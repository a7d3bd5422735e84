"""The training engine: snapshot labels, train, evaluate each epoch, checkpoint, report.

Runs in its own process (``tui-label train`` / ``python -m tui_label.train``). Everything it
learns goes to the store (run, per-epoch metrics, checkpoint paths, final status) and, live, to
stdout as events. A failure of any kind ends as a failed run with its reason. Its
database writes go through ``RunWriter`` (``writes.py``): a locked database never fails a run
for a progress update.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tui_label.errors import UsageError
from tui_label.metrics import confusion_matrix, report
from tui_label.paths import runs_dir
from tui_label.store import Store, StoreWriteError
from tui_label.train import data as tdata
from tui_label.train.events import Emitter
from tui_label.train.models import build_model
from tui_label.train.options import TrainOptions
from tui_label.train.stopper import Stopper
from tui_label.train.writes import RunWriter, WritePolicy


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


def save_atomic(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def logits_of(output) -> torch.Tensor:
    """Inception and GoogLeNet return (logits, aux) tuples in train mode: the logits."""
    return getattr(output, "logits", output)


def check_labels(names: list[str], labels: list[int]) -> None:
    counts = [labels.count(k) for k in range(len(names))]
    present = [(n, c) for n, c in zip(names, counts, strict=True) if c > 0]
    if len(present) < 2:
        raise UsageError(f"too few labels to train: {len(present)} class(es) have labels; "
                         "label images of at least 2 classes")
    thin = [n for n, c in present if c < 2]
    if thin:
        raise UsageError(f"too few labels to train: class {thin[0]!r} has 1 label; every "
                         "labeled class needs at least 2 (one for validation)")


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
             frozen: bool = False):
    """Validation loss and predictions, under no-grad; puts the model back in train mode."""
    model.eval()
    total_loss, predictions = 0.0, []
    with torch.no_grad(), autocast:
        for idx in tdata.batches(torch.arange(len(labels)), batch_size):
            x = tdata.normalize(images[idx].to(device, non_blocking=True))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x).float()
            y = labels[idx].to(device)
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            predictions.append(logits.argmax(1).cpu())
    set_train_mode(model, frozen)
    preds = torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.long)
    return total_loss / max(len(labels), 1), preds


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
    store = Store(opts.db, busy_timeout_ms=writes.busy_timeout_ms)
    try:
        return _train(opts, store, RunWriter(store, emitter, writes), emitter, stopper)
    finally:
        store.close()


def _train(opts: TrainOptions, store: Store, writer: RunWriter, emitter: Emitter,
           stopper: Stopper) -> int:
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
    check_labels(names, [index_of[it.class_id] for it in items])
    device = pick_device(opts.device)
    warnings: list[str] = []
    torch.manual_seed(opts.seed)  # the initial weights too: same seed, same run
    model = build_model(opts.model, len(names), pretrained=opts.pretrained,
                        weights_file=opts.weights, freeze_backbone=opts.freeze_backbone,
                        warn=warnings.append)

    run_id = writer.must("the new run", store.create_run, opts.model, opts.to_json(), names)
    emitter.run_id = run_id
    try:
        return _run(opts, store, writer, emitter, stopper, run_id, root, items, index_of,
                    names, device, model, warnings)
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


def _run(opts, store, writer, emitter, stopper, run_id, root, items, index_of, names, device,
         model, warnings) -> int:
    torch.manual_seed(opts.seed)
    generator = torch.Generator().manual_seed(opts.seed)
    if device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # one core for the labeler

    split = writer.must("the train/validation split", store.assign_splits, items,
                        opts.val_fraction)
    for message in warnings:
        emitter.emit("warning", message=message)
    cpu_workers = max(1, (os.cpu_count() or 2) - 1)

    def progress(done: int, total: int) -> None:
        if stopper.requested:
            raise Cancelled(f"stopped by {stopper.requested} while decoding images")
        emitter.emit("preparing", done=done, total=total)

    skipped: list[tuple[str, str]] = []  # (path, why), for the warning

    def prepare(subset):
        images, kept = tdata.build_cache(
            [root / it.path for it in subset], opts.size, workers=cpu_workers,
            progress=progress,
            skipped=lambda i, reason: skipped.append((subset[i].path, reason)))
        labels = torch.tensor([index_of[subset[i].class_id] for i in kept], dtype=torch.long)
        return images, labels

    train_items = [it for it in items if split[it.image_id] == "train"]
    val_items = [it for it in items if split[it.image_id] == "val"]
    train_x, train_y = prepare(train_items)
    val_x, val_y = prepare(val_items)
    if skipped:
        emitter.emit("warning", message=_unreadable_warning(skipped))
    if len(train_y) == 0 or len(val_y) == 0:
        raise RuntimeError("no readable images left in the training or validation split")

    channels_last = device.type == "cuda"
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":  # keep the cache on the GPU: no host-to-device copies per step
        train_x, val_x = train_x.to(device), val_x.to(device)
    autocast, scaler = autocast_for(device)
    num_classes = len(names)
    weight = None
    if opts.balance == "loss":
        counts = torch.bincount(train_y, minlength=num_classes).clamp(min=1).float()
        weight = (counts.sum() / (num_classes * counts)).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=opts.learning_rate, weight_decay=5e-4)
    steps = tdata.steps_per_epoch(len(train_y), opts.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=opts.learning_rate, total_steps=steps * opts.epochs, pct_start=0.15)

    writer.must("the run's device and split sizes", store.update_run, run_id,
                device=str(device), num_train=len(train_y), num_val=len(val_y))
    emitter.emit("started", model=opts.model, device=str(device), classes=names,
                 num_train=len(train_y), num_val=len(val_y), epochs=opts.epochs, steps=steps,
                 image_size=opts.size, config=opts.to_json())
    # Absolute: the stored paths must resolve from any working directory (the labeler's).
    out_dir = runs_dir(opts.db.resolve()) / f"run-{run_id}"
    best_acc, best_path, last_path = -1.0, out_dir / "best.pt", out_dir / "last.pt"
    start = time.monotonic()
    seen = 0

    def checkpoint(epoch: int, path: Path, metrics: dict | None) -> None:
        save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "epoch": epoch, "class_names": names, "config": opts.to_json(),
                     "metrics": metrics}, path)

    set_train_mode(model, opts.freeze_backbone)
    for epoch in range(1, opts.epochs + 1):
        epoch_start = time.monotonic()
        if opts.balance == "sampler":
            order = tdata.balanced_order(train_y, num_classes, generator)
        else:
            order = torch.randperm(len(train_y), generator=generator)
        loss_sum = torch.zeros((), device=device)
        for step, idx in enumerate(tdata.batches(order, opts.batch_size), start=1):
            if stopper.requested:
                checkpoint(epoch - 1, last_path, None)
                writer.must("the last checkpoint's path", store.update_run, run_id,
                            last_checkpoint=str(last_path))
                raise Cancelled(f"stopped by {stopper.requested} in epoch {epoch}; last "
                                f"checkpoint {last_path}")
            x = tdata.augment(train_x[idx.to(train_x.device)], hflip=opts.hflip,
                              generator=generator)
            y = train_y[idx].to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                loss = F.cross_entropy(logits_of(model(x)).float(), y, weight=weight)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
            loss_sum += loss.detach()
            seen += len(idx)
            if emitter.step_due() or step == steps:
                value = loss.item()  # the only sync per throttled step
                if not math.isfinite(value):
                    raise NaNLoss(f"the loss became {value} in epoch {epoch}, step {step}: "
                                  f"try a lower --lr than {opts.learning_rate}")
                elapsed = time.monotonic() - start
                rate = seen / elapsed
                remaining = (opts.epochs * steps - ((epoch - 1) * steps + step)) * opts.batch_size
                progress = {"epoch": epoch, "epochs": opts.epochs, "step": step, "steps": steps,
                            "loss": value, "images_per_sec": rate,
                            "eta_s": remaining / rate if rate else 0.0}
                if device.type == "cuda":
                    progress["gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
                emitter.emit("step", **progress)
                writer.progress(run_id, progress)
        train_loss = (loss_sum / steps).item()
        if not math.isfinite(train_loss):
            raise NaNLoss(f"the loss became {train_loss} in epoch {epoch}: try a lower --lr "
                          f"than {opts.learning_rate}")
        val_loss, preds = evaluate(model, val_x, val_y, num_classes, device, opts.batch_size,
                                   autocast, channels_last, opts.freeze_backbone)
        if not math.isfinite(val_loss):  # such a model must never become best.pt
            raise NaNLoss(f"the validation loss became {val_loss} in epoch {epoch}: try a "
                          f"lower --lr than {opts.learning_rate}")
        metrics = report(confusion_matrix(val_y.tolist(), preds.tolist(), num_classes), names)
        seconds = time.monotonic() - epoch_start
        rate = len(train_y) / seconds
        writer.must(f"epoch {epoch}'s metrics", store.add_epoch, run_id, epoch,
                    train_loss=train_loss, val_loss=val_loss, report=metrics.to_dict(),
                    seconds=seconds, images_per_sec=rate)
        emitter.emit("epoch", epoch=epoch, epochs=opts.epochs, train_loss=train_loss,
                     val_loss=val_loss, seconds=seconds, images_per_sec=rate,
                     **metrics.to_dict())
        checkpoint(epoch, last_path, metrics.to_dict())
        best = metrics.accuracy > best_acc
        if best:
            best_acc = metrics.accuracy
            checkpoint(epoch, best_path, metrics.to_dict())
        writer.must(f"epoch {epoch}'s checkpoint paths", store.update_run, run_id,
                    last_checkpoint=str(last_path), best_checkpoint=str(best_path),
                    best_accuracy=best_acc)
        emitter.emit("checkpoint", path=str(best_path if best else last_path), best=best,
                     epoch=epoch)
    writer.must("the finished status", store.update_run, run_id, status="finished")
    emitter.emit("finished", best_accuracy=best_acc, best_checkpoint=str(best_path),
                 last_checkpoint=str(last_path), seconds=time.monotonic() - start)
    return 0


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

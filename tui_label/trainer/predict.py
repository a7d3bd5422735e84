"""Predictions: what a finished run's model thinks of every readable image of the store.

At the end of a run (``run``) and on demand (``tui-label predict``): class probabilities
and penultimate-layer embeddings of every image whose file can be read, labeled or not,
saved as a ``tui_label.assist.predictions.PredictionSet`` beside the run and as top-k rows in the
store. Then out-of-sample probabilities of the labeled images (``oof``: a cross-validated
linear head on the embeddings, or K fine-tuned models with ``--folds K``) and the suspect
labels they point at.

Events (see ``events.py``): ``predicting`` {done, total} (throttled), then ``predicted``
{images, oof, suspects, seconds}.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tui_label.assist.predictions import PredictionSet, predictions_dir, top_k_rows
from tui_label.config.paths import runs_dir
from tui_label.core.times import now_iso
from tui_label.errors import UsageError
from tui_label.media.decode_cache import DecodeCache
from tui_label.runs.emit import Emitter
from tui_label.store import Store
from tui_label.trainer import data as tdata
from tui_label.trainer.checkpoint import RunModel, load_run_model, options_of_run
from tui_label.trainer.device import autocast_for, logits_of, pick_device
from tui_label.trainer.oof import given_oof, labeled_images, linear_oof, suspect_rows

PROGRESS_INTERVAL_S = 0.5  # at most two predicting events a second
DECODE_CHUNK = 1024  # images decoded at once: a million never sit in memory together


def choose_run(store: Store, run_id: int | None) -> dict:
    """The run to predict with: ``run_id``, or the latest finished run.

    Raises:
        UsageError: no such run, it did not finish, or no run has finished yet.
    """
    if run_id is None:
        run_id = store.latest_finished_run_id()
        if run_id is None:
            raise UsageError("no finished training run to predict with: train one first "
                             "(tui-label train, or t in the labeler)")
    run = store.run(run_id)
    if run is None:
        raise UsageError(f"there is no run {run_id}")
    if run["status"] != "finished":
        raise UsageError(f"run {run_id} is {run['status']}, not finished: only a finished "
                         "run's model predicts")
    return run


@dataclass
class ClassMap:
    """A run's columns as today's class ids, and how the classes differ."""

    class_ids: list[int | None]  # per column; None: the class no longer exists
    unknown: list[str]  # today's classes the model was not trained on
    gone: list[str]  # the model's classes that no longer exist

    def notice(self, run_id: int) -> str | None:
        """One line when the classes differ, else None."""
        parts = []
        if self.unknown:
            parts.append(f"{len(self.unknown)} class(es) are unknown to the model "
                         f"({_some(self.unknown)}): they get no predictions")
        if self.gone:
            parts.append(f"{len(self.gone)} of its classes no longer exist ({_some(self.gone)})")
        return f"run {run_id} is stale: " + "; ".join(parts) if parts else None


def _some(names: Sequence[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def class_map(store: Store, class_names: Sequence[str]) -> ClassMap:
    """Map a run's class names to today's class ids, by name."""
    today = {c.name: c.id for c in store.classes()}
    ids = [today.get(name) for name in class_names]
    return ClassMap(ids, [n for n in today if n not in set(class_names)],
                    [n for n, i in zip(class_names, ids, strict=True) if i is None])


# -- probabilities and embeddings -----------------------------------------------------------


def last_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` (its classification head: see ``models.replace_head``)."""
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None:
        raise UsageError("the model has no linear classification head")
    return last


class Penultimate:
    """Captures what goes into the model's last ``nn.Linear``: the penultimate embedding."""

    def __init__(self, model: nn.Module) -> None:
        self.layer = last_linear(model)
        self.value: torch.Tensor | None = None
        self._handle = None

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.value = inputs[0].detach()

    def __enter__(self) -> Penultimate:
        self._handle = self.layer.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


class Predictor:
    """Probabilities and embeddings of uint8 image batches, under no-grad and eval mode."""

    def __init__(self, model: nn.Module, device: torch.device, batch_size: int) -> None:
        self.model, self.device, self.batch_size = model, device, max(1, batch_size)
        self.autocast, _ = autocast_for(device)
        self.channels_last = device.type == "cuda"

    def __call__(self, images: torch.Tensor,
                 check: Callable[[], None] = lambda: None) -> tuple[np.ndarray, np.ndarray]:
        """``(probs float32 N x C, embeddings float16 N x D)`` of an ``N x 3 x S x S`` uint8
        tensor (on any device), in batches; ``check`` runs before each batch (to stop)."""
        probs, embeddings = [], []
        was_training = self.model.training
        self.model.eval()
        try:
            # closing: a stop ends the reads ahead before the cache may be closed
            stream = closing(tdata.prefetched(images, tdata.batches(torch.arange(len(images)),
                                                                    self.batch_size)))
            with Penultimate(self.model) as hook, torch.no_grad(), self.autocast, \
                    stream as batches:
                for _, batch in batches:
                    check()
                    x = tdata.normalize(batch.to(self.device, non_blocking=True))
                    if self.channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                    logits = logits_of(self.model(x)).float()
                    probs.append(logits.softmax(1).cpu().numpy())
                    embeddings.append(hook.value.flatten(1).float().cpu().numpy()
                                      .astype(np.float16))
        finally:
            self.model.train(was_training)
        if not probs:
            width = last_linear(self.model).in_features
            classes = last_linear(self.model).out_features
            return (np.zeros((0, classes), np.float32), np.zeros((0, width), np.float16))
        return np.concatenate(probs).astype(np.float32), np.concatenate(embeddings)


class _Progress:
    """``predicting`` events, at most two a second, and always the last one. With ``shares``
    processes each predicting a share, this one's progress stands for all of them."""

    def __init__(self, emitter: Emitter, total: int, shares: int = 1, mine: int = 0) -> None:
        self.emitter, self.total, self.done, self._last = emitter, total, 0, 0.0
        self.shares, self.mine = shares, mine

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.done >= self.mine or now - self._last >= PROGRESS_INTERVAL_S:
            self._last = now
            shown = self.total if self.done >= self.mine else min(self.total,
                                                                  self.done * self.shares)
            self.emitter.emit("predicting", done=shown, total=self.total)


class _Collected:
    """Predicted blocks, put together in id order at the end."""

    def __init__(self) -> None:
        self.ids: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.embeddings: list[np.ndarray] = []

    def add(self, ids: Sequence[int], predicted: tuple[np.ndarray, np.ndarray]) -> None:
        self.ids.append(np.asarray(ids, dtype=np.int64))
        self.probs.append(predicted[0])
        self.embeddings.append(predicted[1])

    def result(self) -> tuple[np.ndarray, ...]:
        all_ids = np.concatenate(self.ids)
        order = np.argsort(all_ids, kind="stable")
        return (all_ids[order], np.concatenate(self.probs)[order],
                np.concatenate(self.embeddings)[order])


def predict_images(predictor: Predictor, store: Store, root: Path, size: int,
                   emitter: Emitter, *, cached: Sequence[tdata.Cached] = (),
                   workers: int | None = None,
                   check: Callable[[], None] = lambda: None,
                   share: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, ...]:
    """Predict every readable image of the store: ``(ids, probs, embeddings)``, ids
    ascending. Images in ``cached`` are taken from there; the others are read through the
    decode cache (``tui_label.media.decode_cache``: decoded only when new or changed), a chunk at a
    time. Files that cannot be read are left out.

    ``share=(k, n)``: only the images whose id is ``k`` modulo ``n`` (process ``k`` of ``n``
    predicting a run's images together; the split needs no agreement between them)."""
    targets = store.readable_images()
    total = len(targets)
    k, n = share
    if n > 1:
        targets = [t for t in targets if t[0] % n == k]
    progress = _Progress(emitter, total, shares=n, mine=len(targets))
    emitter.emit("predicting", done=0, total=total)
    wanted = {image_id for image_id, _ in targets}
    collected, have = _Collected(), set()
    for block in cached:
        keep = [k for k, image_id in enumerate(block.ids) if image_id in wanted]
        if not keep:
            continue
        # (a subset of a streamed block stays streamed: never the whole share in memory)
        chosen = block.images if len(keep) == len(block.ids) else \
            tdata.subset(block.images, torch.tensor(keep))
        collected.add([block.ids[k] for k in keep], predictor(chosen, check))
        have.update(block.ids[k] for k in keep)
        progress.add(len(keep))
    rest = [(image_id, path) for image_id, path in targets if image_id not in have]
    if rest:
        # The rest through the decode cache too: the next prediction (a new run, or
        # ``tui-label predict``) decodes only what is new or changed.
        with DecodeCache.open(store.path, size) as cache:
            for start in range(0, len(rest), DECODE_CHUNK):
                check()
                chunk = rest[start:start + DECODE_CHUNK]
                images, kept = tdata.from_cache(
                    cache, [(image_id, root / path) for image_id, path in chunk],
                    workers=workers or max(1, (os.cpu_count() or 2) - 1), check=check)
                collected.add([chunk[k][0] for k in kept], predictor(images, check))
                progress.add(len(chunk))
    if not collected.ids:
        empty_p, empty_e = predictor(torch.zeros((0, 3, size, size), dtype=torch.uint8))
        return np.zeros(0, np.int64), empty_p, empty_e
    return collected.result()


# -- the whole step -------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a prediction stored."""

    run_id: int
    images: int
    oof: int
    suspects: int
    seconds: float
    classes: ClassMap
    notes: list[str] = field(default_factory=list)  # e.g. why there are no out-of-sample ones


def predict_run(store: Store, run: RunModel, root: Path, emitter: Emitter, *,
                device: torch.device, batch_size: int = 64,
                cached: Sequence[tdata.Cached] = (),
                oof: tuple[np.ndarray, np.ndarray] | None = None,
                check: Callable[[], None] = lambda: None,
                write: Callable | None = None,
                predicted: tuple[np.ndarray, ...] | None = None,
                as_of: tuple[str, int] | None = None) -> Outcome:
    """Predict every readable image with ``run``'s model, work out out-of-sample
    probabilities (``oof``: ``(ids, probs)`` from fine-tuned folds, else a linear head) and the
    suspect labels, then store it all: the arrays beside the run, the top-k rows, the
    suspects, and last ``runs.predicted_at`` and ``predicted_through``.

    ``predicted``: ``predict_images``' ``(ids, probs, embeddings)`` made already (by the ranks
    of a run, each predicting its share), with ``as_of``, the time and last event id taken
    before they began. ``write(what, fn, *args)`` performs each store write (the trainer
    retries a locked database); by default the write is called directly.
    """
    write = write or (lambda what, fn, *args, **kw: fn(*args, **kw))
    start = time.monotonic()
    # Taken before the labels are read: a label changed while we work is newer than the
    # predictions, so ``Store.suspects(open_only=True)`` drops its image.
    as_of = as_of or (now_iso(), store.last_event_id())
    classes = class_map(store, run.class_names)
    labeled = labeled_images(store, classes.class_ids)
    if predicted is None:
        predictor = Predictor(run.model, device, batch_size)
        predicted = predict_images(predictor, store, root, run.size, emitter, cached=cached,
                                   check=check)
    ids, probs, embeddings = predicted
    result = PredictionSet(ids, probs, run.class_names, embeddings)
    rows = result.rows_of(labeled.ids)
    readable = rows >= 0  # a labeled file that cannot be read now has no embedding
    labeled, rows = labeled.where(readable), rows[readable]
    notes: list[str] = []
    if oof is not None:
        oof_ids, oof_columns, oof_probs = given_oof(labeled, oof, len(run.class_names))
    else:
        keep, oof_probs, reason = linear_oof(embeddings[rows], labeled.columns,
                                             len(run.class_names))
        notes += [reason] if reason else []
        oof_ids, oof_columns = labeled.ids[keep], labeled.columns[keep]
    check()
    suspects = suspect_rows(oof_ids, oof_columns, oof_probs, classes.class_ids)
    result.oof_ids, result.oof_probs = oof_ids, oof_probs
    check()
    saved = _store(store, run.run_id, result, classes, suspects, as_of, write)
    seconds = time.monotonic() - start
    emitter.emit("predicted", images=len(ids), oof=len(oof_ids), suspects=len(suspects),
                 seconds=seconds, predictions=str(saved))
    return Outcome(run.run_id, len(ids), len(oof_ids), len(suspects), seconds, classes, notes)


def _store(store: Store, run_id: int, result: PredictionSet, classes: ClassMap,
           suspects: list[dict], as_of: tuple[str, int], write: Callable) -> Path:
    """The arrays beside the run, then the rows (the model's last: they make the run
    "predicted", ``latest_predicted_run``) and the time; returns the arrays' folder."""
    folder = predictions_dir(runs_dir(store.path.resolve()) / f"run-{run_id}")
    result.save(folder)
    write("the out-of-sample predictions", store.save_predictions, run_id, "oof",
          top_k_rows(result.oof_ids, result.oof_probs, classes.class_ids))
    write("the suspect labels", store.save_suspects, run_id, suspects)
    write("the predictions", store.save_predictions, run_id, "model",
          top_k_rows(result.ids, result.probs, classes.class_ids))
    write("the predictions' time", store.update_run, run_id, predicted_at=as_of[0],
          predicted_through=as_of[1])
    return folder


def predict_command(db: Path, root: Path | None, run_id: int | None, device: str,
                    batch_size: int, emitter: Emitter) -> Outcome:
    """``tui-label predict``: check everything (the run, its checkpoint, the folder, the
    device), then predict and store. Raises ``UsageError`` before anything is written."""
    store = Store(db, create=False)
    try:
        run = choose_run(store, run_id)
        if options_of_run(run["config"]).multi_label:
            raise UsageError(f"run {run['id']} is a multi-label run: predictions, suggestions "
                             "and suspect labels are single-label, none are stored for it")
        emitter.run_id = run["id"]
        if root is None:
            recorded = store.get_setting("root") or run["config"].get("root")
            if not recorded:
                raise UsageError("which folder holds the images? give DIR (the labeler records "
                                 "it when you first open a folder)")
            root = Path(recorded)
        if not root.is_dir():
            raise UsageError(f"dataset folder not found: {root}")
        chosen = pick_device(device)
        model = load_run_model(run, chosen)
        classes = class_map(store, model.class_names)
        notice = classes.notice(run["id"])
        if notice:
            emitter.emit("warning", message=notice)
        return predict_run(store, model, root, emitter, device=chosen, batch_size=batch_size)
    finally:
        store.close()


def describe(outcome: Outcome) -> str:
    """One line for a person."""
    text = (f"run {outcome.run_id}: predicted {outcome.images} images in "
            f"{outcome.seconds:.1f}s; {outcome.oof} out-of-sample, {outcome.suspects} suspect "
            "label(s)")
    return text + "".join(f"; {n}" for n in outcome.notes)


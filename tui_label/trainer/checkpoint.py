"""A run's checkpoints: writing them, checking one to resume from (``--resume``), putting a
run's optimizer and random state back, and loading a finished run's model to predict.

A checkpoint is a dict (``torch.save``): ``model`` (the weights), ``optimizer``,
``scheduler``, ``scaler``, ``steps_per_epoch``, ``epoch``, ``class_names``, ``config`` (the
run's options), ``metrics``, ``best_accuracy``, ``rng`` and ``rank_rng`` (random states).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from tui_label.config.paths import runs_dir
from tui_label.errors import UsageError
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.store import Store
from tui_label.trainer import data as tdata
from tui_label.trainer.distributed import ALONE, World
from tui_label.trainer.models import build_model

RESUME_KEYS = ("model", "optimizer", "scheduler", "epoch", "class_names", "config",
               "best_accuracy", "rng", "steps_per_epoch")


class Resumable(Protocol):
    """What ``restore_fit`` puts back (``loop.Fit``)."""

    opts: TrainOptions
    steps: int
    generator: torch.Generator

    def load_state_dict(self, state: dict) -> None: ...


class Writer(Protocol):
    """``RunWriter`` (or the other ranks' ``NoWrites``)."""

    def must(self, what: str, write, *args, **kwargs): ...


def save_atomic(obj: dict, path: Path) -> None:
    """Write ``obj`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def rng_state(device: torch.device, generator: torch.Generator) -> dict:
    """The random state a resumed run continues with: torch's global one (dropout), the
    run's generator (batch order, augmentation) and, on a GPU, its own."""
    return {"torch": torch.get_rng_state(), "generator": generator.get_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


# -- resuming a run (--resume) -------------------------------------------------------------


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


def reopen(store: Store, writer: Writer, run: dict, ckpt: dict) -> int:
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
    """The checkpoint's weights into ``model``.

    Raises:
        UsageError: they are not weights of the run's model.
    """
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError):  # another model's weights under this run's name
        raise UsageError(f"--resume {run['id']}: {run['last_checkpoint']} does not hold "
                         f"weights of run {run['id']}'s model ({run['model']})") from None


def restore_fit(fit: Resumable, ckpt: dict, device: torch.device, emitter: Emitter,
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


# -- a finished run's model ----------------------------------------------------------------


@dataclass
class RunModel:
    """A finished run's model, checked against its run, ready to predict."""

    run_id: int
    model: nn.Module
    checkpoint: Path
    class_names: list[str]
    opts: TrainOptions

    @property
    def size(self) -> int:
        return self.opts.size


def options_of_run(config: dict) -> TrainOptions:
    """The ``TrainOptions`` a run was made with (from its stored config; fields added since
    take their defaults, unknown keys are dropped)."""
    known = {f for f in TrainOptions.__dataclass_fields__}
    values = {k: v for k, v in config.items() if k in known}
    for key in ("db", "root", "weights"):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    values.setdefault("db", Path(""))
    return TrainOptions(**values)


def load_run_model(run: dict, device: torch.device | str = "cpu") -> RunModel:
    """The run's best checkpoint (its last when the best is gone), loaded and checked.

    Raises:
        UsageError: both checkpoints are gone, or the file cannot be read, or it is not this
            run's model (another run's, a foreign file, damaged weights).
    """
    paths = [Path(p) for p in (run["best_checkpoint"], run["last_checkpoint"]) if p]
    path = next((p for p in paths if p.is_file()), None)
    if path is None:
        named = paths[0] if paths else "none recorded"
        raise UsageError(f"run {run['id']}'s checkpoint is gone ({named}): train again")
    foreign = (f"run {run['id']}'s checkpoint {path} is not a tui-label checkpoint of this run "
               "(damaged or replaced): train again")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unpickling, zip, EOF, OS errors: all "cannot be read"
        raise UsageError(foreign) from None
    if (not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict)
            or ckpt.get("class_names") != run["class_names"]
            or not isinstance(ckpt.get("config"), dict)
            or ckpt["config"].get("model") != run["model"]):
        raise UsageError(foreign)
    opts = options_of_run(run["config"])
    try:
        model = build_model(run["model"], len(run["class_names"]), pretrained=False)
        model.load_state_dict(ckpt["model"])
    except UsageError:
        raise
    except Exception:  # missing or misshapen tensors
        raise UsageError(foreign) from None
    model = model.to(device).eval()
    return RunModel(run["id"], model, path, list(run["class_names"]), opts)


def load_checkpoint(path: Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model of a checkpoint file, unchecked (tests and benchmarks; the product
    loads a run's model with ``load_run_model``); returns it in eval mode and the dict."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = build_model(ckpt["config"]["model"], len(ckpt["class_names"]), pretrained=False)
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def class_probabilities(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Softmax class probabilities of a uint8 NCHW batch (tests and benchmarks)."""
    with torch.no_grad():
        return model(tdata.normalize(images)).softmax(1)

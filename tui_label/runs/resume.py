"""``--resume RUN``: whether a run can go on, and with which settings. No torch: the labeler
asks the same before it offers or starts a resume; the trainer then loads the checkpoint
(``trainer.checkpoint.resume_checkpoint``) and continues.

Every check here only reads the store: a refused resume writes nothing.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from tui_label.core.procs import pid_alive
from tui_label.errors import UsageError
from tui_label.runs.options import PLACE_OPTIONS, TrainOptions, option_fields
from tui_label.store import Store

RESUMABLE = ("cancelled", "failed")


def run_to_resume(store: Store, run_id: int, joining: bool = False) -> dict:
    """The run ``run_id``, checked: it exists, it is cancelled or failed (or its trainer died
    without saying so), it has its last checkpoint, and today's classes are its classes.

    ``joining``: this is another machine of a several-machine resume (``--node-rank`` above
    0): machine 0 reopens the run, so its status is not checked here.

    Raises:
        UsageError: one line saying why the run cannot be resumed.
    """
    run = store.run(run_id)
    what = f"--resume {run_id}"
    if run is None:
        raise UsageError(f"{what}: there is no run {run_id} in {store.path}")
    status = "cancelled" if joining else run["status"]
    if status == "finished":
        start_from = (f", with --weights {run['best_checkpoint']} to begin from it"
                      if run["best_checkpoint"] else "")
        raise UsageError(f"{what}: run {run_id} has finished; nothing to resume (start a new "
                         f"run{start_from})")
    if status == "running":
        host, pid = run["host"], run["pid"]
        if host and host != socket.gethostname():
            raise UsageError(f"{what}: run {run_id} is running on {host} (pid {pid}): stop it "
                             "there, or resume it there once it is cancelled or failed")
        if pid is not None and pid_alive(pid):
            raise UsageError(f"{what}: run {run_id} is still running (pid {pid}): stop it "
                             "first (T in the labeler, or Ctrl+C)")
        # Its trainer is gone without a word: the labeler would mark it failed; resume it.
    if not run["last_checkpoint"]:
        raise UsageError(f"{what}: run {run_id} has no last checkpoint (it stopped before its "
                         "first epoch ended); start a new run")
    path = Path(run["last_checkpoint"])
    if not path.is_file():
        raise UsageError(f"{what}: run {run_id}'s last checkpoint {path} is missing")
    problem = classes_changed(run["class_names"], [c.name for c in store.classes()])
    if problem:
        raise UsageError(f"{what}: run {run_id} was trained on other classes ({problem} "
                         "since); start a new run")
    return run


def classes_changed(before: list[str], now: list[str]) -> str | None:
    """What changed between a run's classes and today's (None: nothing), in a few words."""
    if before == now:
        return None
    added = [n for n in now if n not in before]
    removed = [n for n in before if n not in now]
    parts = ([f"{_names(added)} added"] if added else []) + (
        [f"{_names(removed)} removed"] if removed else [])
    return "; ".join(parts) or "their order changed"


def _names(names: list[str]) -> str:
    # repr: a class name with a newline or markup stays one plain line
    return ("class " if len(names) == 1 else "classes ") + ", ".join(map(repr, names))


def resumed_options(opts: TrainOptions, run: dict) -> TrainOptions:
    """The run's stored settings, with what may change on a resume taken from ``opts``: the
    database, the dataset folder (when given), the device (unless ``auto``), the priority, the
    event format, and the processes (``--gpus``/``--nproc`` and the machines, each when given;
    a run of several processes otherwise goes on with as many as it began with)."""
    stored: dict[str, Any] = run["config"] if isinstance(run["config"], dict) else {}
    # A run from before multi-label mode, or before runs learned from unlabeled images
    values: dict[str, Any] = {"multi_label": False, "unlabeled": 0}
    for f in option_fields():
        if f.name not in stored:  # a run of an older tui-label: that option's default
            continue
        value = stored[f.name]
        values[f.name] = Path(value) if f.kind is Path and value is not None else value
    root = opts.root or values.get("root")
    device = opts.device if opts.device != "auto" else values.get("device", "auto")
    layout: dict[str, Any] = {}
    defaults = TrainOptions.__dataclass_fields__
    if opts.gpus or opts.nproc:
        # Processes given: the whole layout is today's (one machine unless --nnodes says
        # otherwise), so a two-machine run can go on on one. The global batch stays.
        layout.update(gpus=opts.gpus, nproc=opts.nproc,
                      **{name: getattr(opts, name) for name in PLACE_OPTIONS})
    else:  # the run's processes and machines, with what was given (--node-rank, say)
        layout.update({name: getattr(opts, name) for name in PLACE_OPTIONS
                       if getattr(opts, name) != defaults[name].default})
    return TrainOptions(**{**values, **layout, "db": opts.db, "root": root, "device": device,
                           "nice": opts.nice, "events": opts.events, "resume": run["id"]})

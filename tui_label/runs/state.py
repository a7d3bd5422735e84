"""The labeler's side of training, without torch or textual: the trainer's command line, and
a run's state built from its events or from the store (to show a run again after a restart).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from tui_label.runs.events import (
    Checkpoint,
    Ended,
    Epoch,
    Event,
    EventError,
    Finished,
    Preparing,
    Started,
    Step,
    Warned,
    parse,
)
from tui_label.runs.metrics import Report
from tui_label.runs.options import TrainOptions
from tui_label.store import Store


def trainer_command(opts: TrainOptions) -> list[str]:
    """How the panel starts a run: the same engine as ``tui-label train``."""
    return [sys.executable, "-m", "tui_label.trainer", *opts.command_args()]


@dataclass
class EpochPoint:
    epoch: int
    train_loss: float
    val_loss: float
    accuracy: float
    macro_f1: float
    micro_f1: float | None = None  # multi-label runs


@dataclass
class RunState:
    """Everything the panel shows about one run."""

    run_id: int | None = None
    status: str = "idle"  # idle | starting | preparing | running | finished | failed | cancelled
    reason: str | None = None
    model: str = ""
    device: str = ""
    classes: list[str] = field(default_factory=list)
    num_train: int = 0
    num_val: int = 0
    num_unlabeled: int = 0  # learned from as well (the run's started event says)
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    images_per_sec: float = 0.0
    eta_s: float = 0.0
    gpu_memory_mb: float | None = None
    gpu_util: float | None = None  # percent, where NVML can be read
    world_size: int = 1  # processes training it (--gpus / --nproc, times --nnodes)
    prepared: tuple[int, int] = (0, 0)
    step_losses: list[tuple[float, float]] = field(default_factory=list)  # (epoch + frac, loss)
    history: list[EpochPoint] = field(default_factory=list)
    report: Report | None = None
    report_epoch: int = 0  # the epoch whose validation split ``report`` measures
    best_checkpoint: str | None = None
    warnings: list[str] = field(default_factory=list)
    pid: int | None = None
    has_checkpoint: bool = False  # a last.pt was written (a stop in epoch 1 writes one too)
    threshold: float | None = None  # a multi-label run's: its metrics are measured at it

    @property
    def multi_label(self) -> bool:
        return self.threshold is not None

    @property
    def active(self) -> bool:
        return self.status in ("starting", "preparing", "running")

    @property
    def resumable(self) -> bool:
        """Cancelled or failed after at least one epoch ended and was checkpointed: ``--resume``
        (the panel's R) can go on from there."""
        return (self.status in ("cancelled", "failed") and self.run_id is not None
                and self.has_checkpoint and bool(self.history))

    def apply(self, e: Event) -> None:
        """Fold one trainer event into the state."""
        if e.run_id is not None:
            self.run_id = e.run_id
        if isinstance(e, Preparing):
            self.status = "preparing"
            self.prepared = (e.done, e.total)
        elif isinstance(e, Warned):
            self.warnings.append(e.message)
        elif isinstance(e, Started):
            self._started(e)
        elif isinstance(e, Step):
            self._progress(e)
        elif isinstance(e, Epoch):
            r = e.report
            self.epoch = e.epoch
            self.history.append(EpochPoint(e.epoch, e.train_loss, e.val_loss, r.accuracy,
                                           r.macro_f1, r.micro_f1))
            self.report, self.report_epoch = r, e.epoch
            self.threshold = r.threshold
        elif isinstance(e, Checkpoint):
            self.has_checkpoint = True
            if e.best:
                self.best_checkpoint = e.path
        elif isinstance(e, Finished):
            self.status = "finished"
            self.best_checkpoint = e.best_checkpoint or self.best_checkpoint
        elif isinstance(e, Ended):
            self.status, self.reason = e.kind, e.reason

    def _started(self, e: Started) -> None:
        self.status = "running"
        self.model, self.device = e.model, e.device
        if e.precision != "fp32":  # autocast on a GPU: say so
            self.device = f"{self.device} {e.precision}"
        self.classes = e.classes
        self.num_train, self.num_val = e.num_train, e.num_val
        self.num_unlabeled = e.num_unlabeled
        self.epochs, self.steps = e.epochs, e.steps
        self.world_size = e.world_size
        self.threshold = threshold_of(e.config)

    def _progress(self, e: Step) -> None:
        self.status = "running"
        self.epoch, self.epochs = e.epoch, e.epochs
        self.step, self.steps = e.step, e.steps
        self.images_per_sec, self.eta_s = e.images_per_sec, e.eta_s
        self.gpu_memory_mb, self.gpu_util = e.gpu_memory_mb, e.gpu_util
        if not self.step_losses or self.step_losses[-1][0] != e.position:
            self.step_losses.append((e.position, e.loss))

    @classmethod
    def from_store(cls, store: Store, run_id: int) -> RunState:
        """Rebuild a run's state from what the trainer wrote to the store."""
        run = store.run(run_id)
        state = cls(run_id=run_id)
        if run is None:
            return state
        state.status = run["status"]
        state.reason = run["reason"]
        state.model, state.device = run["model"], run["device"] or ""
        config = run["config"] or {}
        state.world_size = (config.get("gpus") or config.get("nproc") or 1) * \
            config.get("nnodes", 1)
        state.classes = run["class_names"]
        state.num_train, state.num_val = run["num_train"] or 0, run["num_val"] or 0
        state.num_unlabeled = run.get("num_unlabeled") or 0
        state.epochs = int(run["config"].get("epochs", 0))
        state.threshold = threshold_of(config)
        state.best_checkpoint = run["best_checkpoint"]
        state.has_checkpoint = bool(run["last_checkpoint"])
        state.pid = run["pid"]
        for row in store.epochs(run_id):
            state.history.append(EpochPoint(row["epoch"], row["train_loss"], row["val_loss"],
                                            row["accuracy"], row["macro_f1"],
                                            (row["report"] or {}).get("micro_f1")))
            state.step_losses.append((float(row["epoch"]), row["train_loss"]))
            if row["report"]:
                state.report = Report.from_dict(row["report"])
                state.report_epoch = row["epoch"]
        state.epoch = state.history[-1].epoch if state.history else 0
        if run["progress"] and state.status == "running":
            try:
                step = parse(run["progress"], kind="step")
            except EventError:  # progress an older trainer wrote: the curve waits for a step
                step = None
            if isinstance(step, Step):
                state._progress(step)
        return state


def threshold_of(config: dict) -> float | None:
    """A run's threshold when it is a multi-label run (from its config), else None."""
    if not config.get("multi_label"):
        return None
    return float(config.get("threshold", 0.5))

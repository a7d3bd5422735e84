"""What every step of a run reads (``RunContext``), and how a run stops early.

``run.train`` builds one context per process once the run exists; the epoch loop, the
prediction shares and the end-of-run predictions take it instead of a bag of parameters.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from tui_label.config.paths import runs_dir
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.runs.writes import RunWriter
from tui_label.store import Store
from tui_label.trainer.distributed import World
from tui_label.trainer.stopper import Stopper


class NaNLoss(RuntimeError):
    """The loss stopped being a number: the run fails (with a hint to lower --lr)."""


class Cancelled(Exception):
    """A stop request (Ctrl+C, SIGTERM, the labeler's stop) ended the run: it is cancelled."""


class NoWrites:
    """The writer of ranks other than 0: they never write to the store."""

    def must(self, what: str, write, *args, **kwargs):
        return None

    def progress(self, run_id: int, progress: dict) -> bool:
        return False


@dataclass
class RunContext:
    """One process's view of a run that exists: its options, where it writes (``writer``
    retries a locked database; ``NoWrites`` on ranks other than 0), where its events go, its
    stop flag, its id, the dataset folder and classes, the device and the ranks."""

    opts: TrainOptions
    store: Store
    writer: RunWriter | NoWrites
    emitter: Emitter
    stopper: Stopper
    run_id: int
    root: Path
    names: list[str]
    index_of: dict[int, int]
    device: torch.device
    world: World

    @property
    def out_dir(self) -> Path:
        """The run's folder (absolute: the stored paths must resolve from any working
        directory, the labeler's)."""
        return runs_dir(self.opts.db.resolve()) / f"run-{self.run_id}"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    def check_stop(self, epoch: int = 0) -> None:
        """Raise ``Cancelled`` when a stop was asked for (outside the epochs: decoding,
        predicting, the folds; ``epoch`` is ignored)."""
        if self.stopper.requested:
            raise Cancelled(f"stopped by {self.stopper.requested}")


def prediction_problem(exc: BaseException, opts: TrainOptions, run_id: int | None) -> str:
    """Why there are no predictions, in one line (the run is trained: it stays finished)."""
    if isinstance(exc, Cancelled):
        return f"no predictions: {exc}"
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return (f"no predictions: CUDA out of memory at batch size {opts.batch_size}; run "
                f"tui-label predict --run {run_id} --batch-size {max(1, opts.batch_size // 2)}")
    traceback.print_exc()  # stderr, for whoever debugs it
    return f"no predictions: {type(exc).__name__}: {exc}"

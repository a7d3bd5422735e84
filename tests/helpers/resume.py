"""Shared test helpers, formerly in tests/test_resume.py."""

from __future__ import annotations

import io
from pathlib import Path

from tests.helpers.training import (
    opts_for,
    parse_events,
    train_in_process,
)
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.trainer import run as trainer
from tui_label.trainer.stopper import Stopper

EPOCHS = 4


class StopWhen(Emitter):
    """JSON events to a string; asks the run to stop (as Ctrl+C does) right after the first
    event for which ``when(event, data)`` is true: the next step cancels the run."""

    def __init__(self, stopper: Stopper, when) -> None:
        super().__init__("json", stream=io.StringIO())
        self.stopper, self.when = stopper, when

    def emit(self, event: str, **data) -> None:
        super().emit(event, **data)
        if self.when(event, data):
            self.stopper.requested = "SIGINT"


def cancelled_run(root: Path, db: Path, after: int, **kw) -> tuple[int, list[dict]]:
    """A run of ``EPOCHS`` epochs stopped right after epoch ``after``; returns its id."""
    stopper = Stopper()
    emitter = StopWhen(stopper, lambda e, d: e == "checkpoint" and d["epoch"] == after)
    code = trainer.train(opts_for(root, db, epochs=EPOCHS, seed=5, **kw), emitter, stopper)
    events = parse_events(emitter.stream.getvalue())
    assert code == 130, events
    return events[-1]["run_id"], events


def resume(db: Path, run_id: int, **kw) -> tuple[int, list[dict]]:
    return train_in_process(TrainOptions(db=db, resume=run_id, events="json", **kw))

"""The labeler's messages for training: queued step events merge, the newest state wins."""

from __future__ import annotations

from tui_label.runs.events import Step, parse
from tui_label.runs.state import RunState
from tui_label.tui.screens.messages import RunUpdated, TrainerEvent


def step(n: int) -> Step:
    return Step(epoch=1, epochs=1, step=n, steps=9, loss=1.0, images_per_sec=1.0, eta_s=1.0)


def test_queued_step_events_merge_and_others_do_not():
    first, newer = TrainerEvent(step(1)), TrainerEvent(step(2))
    epoch = TrainerEvent(parse({"event": "epoch", "epoch": 1, "epochs": 1, "train_loss": 1.0,
                                "val_loss": 1.0, "accuracy": 0.5, "macro_f1": 0.5}))
    assert first.can_replace(newer)
    assert not first.can_replace(epoch) and not epoch.can_replace(newer)
    assert RunUpdated(RunState()).can_replace(RunUpdated(RunState()))
    assert not RunUpdated(RunState()).can_replace(newer)

"""The training controller without a screen: a database path, a folder and three callbacks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import tui_label.runs.controller as training
from tests.helpers.panel import DIGITS, store_with_finished_run
from tui_label.config.settings import ClassSpec
from tui_label.runs.controller import RunUpdated, TrainerEvent, TrainingController


class FakeTimer:
    def __init__(self, seconds: float, callback) -> None:
        self.seconds, self.callback, self.stopped = seconds, callback, False

    def stop(self) -> None:
        self.stopped = True


class Recorder:
    """The callbacks a screen would give, recording what the controller does with them."""

    def __init__(self) -> None:
        self.posted: list = []
        self.notes: list[tuple[str, dict]] = []
        self.timers: list[FakeTimer] = []

    def post(self, message) -> None:
        self.posted.append(message)

    def notify(self, message: str, **kw) -> None:
        self.notes.append((message, kw))

    def set_interval(self, seconds: float, callback) -> FakeTimer:
        self.timers.append(FakeTimer(seconds, callback))
        return self.timers[-1]

    def controller(self, db: Path, root: Path) -> TrainingController:
        return TrainingController(db, root, post=self.post, notify=self.notify,
                                  set_interval=self.set_interval)


def test_attach_shows_the_last_finished_run_without_polling(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.attach()
    assert ctl.state.status == "finished" and len(ctl.state.history) == 2
    assert isinstance(rec.posted[-1], RunUpdated) and rec.posted[-1].state is ctl.state
    assert rec.timers == []
    ctl.close()
    store.close()


def test_a_running_run_is_polled_until_it_ends(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    run_id = store.latest_run()["id"]
    store.update_run(run_id, status="running", pid=os.getpid())  # a live process of this host
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.attach()
    assert ctl.state.status == "running"
    (timer,) = rec.timers
    timer.callback()
    assert ctl.state.status == "running" and not timer.stopped
    store.update_run(run_id, status="cancelled", reason="stopped [/] by a user")
    timer.callback()
    assert ctl.state.status == "cancelled" and timer.stopped
    assert rec.posted[-1].state.reason == "stopped [/] by a user"
    ctl.close()
    store.close()


def test_bad_settings_are_one_notification_and_start_nothing(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.start({"epochs": "[b]many"})
    assert ctl.process is None and ctl.state.status == "idle"
    (message, kw), = rec.notes
    assert message == "epochs: '[b]many' is not a number"
    assert kw["severity"] == "error" and kw["markup"] is False  # the text is not markup
    ctl.close()
    store.close()


def test_a_trainer_that_exits_without_a_last_event_failed_with_its_last_log_line(tmp_path):
    log = tmp_path / "trainer.log"
    log.write_text("an older run's line\ntui-label: error: class '[/]' has 1 label\n")
    rec = Recorder()
    ctl = rec.controller(tmp_path / "none.db", tmp_path)
    ctl.state.status = "running"
    ctl.on_event({"event": "exited", "code": 2, "log": str(log), "offset": 0})
    assert ctl.state.status == "failed"
    assert ctl.state.reason == "class '[/]' has 1 label"
    assert isinstance(rec.posted[-1], RunUpdated)
    (message, kw), = rec.notes
    assert message == "Training failed: class '[/]' has 1 label" and kw["markup"] is False


def test_queued_step_events_merge_and_others_do_not():
    step = TrainerEvent({"event": "step", "step": 1})
    newer = TrainerEvent({"event": "step", "step": 2})
    epoch = TrainerEvent({"event": "epoch", "epoch": 1})
    assert step.can_replace(newer)
    assert not step.can_replace(epoch) and not epoch.can_replace(newer)
    assert RunUpdated(None).can_replace(RunUpdated(None))


def cancelled_after_two_epochs(tmp_path: Path):
    """The store of a 4-epoch run cancelled after epoch 2, with its last checkpoint file."""
    store = store_with_finished_run(tmp_path, DIGITS, status="cancelled",
                                    reason="stopped by SIGINT in epoch 3")
    run_id = store.latest_run()["id"]
    last = tmp_path / "last.pt"
    last.write_bytes(b"checked by the trainer")
    store.update_run(run_id, last_checkpoint=str(last), config={"epochs": 4})
    return store, run_id


def test_resume_starts_the_trainer_on_the_same_run_with_its_epochs_so_far(tmp_path, monkeypatch):
    store, run_id = cancelled_after_two_epochs(tmp_path)
    started = []
    monkeypatch.setattr(training, "trainer_command",
                        lambda opts: started.append(opts) or [sys.executable, "-c", "pass"])
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.attach()
    assert ctl.state.resumable and (ctl.state.epoch, ctl.state.epochs) == (2, 4)
    assert ctl.resume() is True
    (opts,) = started
    assert opts.resume == run_id and opts.db == store.path and opts.root == tmp_path / "data"
    assert (opts.events, opts.nice) == ("json", 10)
    # Nothing else of the run is on its command line: the trainer takes the run's settings.
    assert opts.command_args() == [f"--db={store.path}", "--nice=10", "--events=json",
                                   f"--resume={run_id}", "--", str(tmp_path / "data")]
    assert ctl.state.status == "starting" and ctl.state.run_id == run_id
    assert [h.epoch for h in ctl.state.history] == [1, 2]  # the curve goes on from them
    assert ctl.resume() is False  # one run at a time
    assert rec.notes[-1][0] == "A run is already going: T stops it."
    ctl.process.wait()
    ctl.close()
    store.close()


def test_resume_is_refused_with_a_notice_when_the_run_cannot_go_on(tmp_path, monkeypatch):
    store, run_id = cancelled_after_two_epochs(tmp_path)
    monkeypatch.setattr(training, "trainer_command",
                        lambda opts: pytest.fail("no trainer may start"))
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.attach()
    store.set_classes([*(ClassSpec(n, n) for n in DIGITS), ClassSpec("ten", "a")])
    assert ctl.resume() is False
    message, kw = rec.notes[-1]
    assert message == (f"Cannot resume run {run_id}: run {run_id} was trained on other classes "
                       "(class 'ten' added since); start a new run")
    assert kw["severity"] == "error" and kw["markup"] is False
    assert ctl.state.status == "cancelled" and ctl.process is None
    store.update_run(run_id, status="finished")
    ctl.attach()
    assert not ctl.state.resumable and ctl.resume() is False
    assert rec.notes[-1][0].startswith("Nothing to resume")
    ctl.close()
    store.close()

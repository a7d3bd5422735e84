"""The training controller without a screen: a database path, a folder and four callbacks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import tui_label.runs.controller as training
from tests.helpers.panel import DIGITS, store_with_finished_run
from tui_label.config.settings import ClassSpec
from tui_label.runs.controller import TrainingController
from tui_label.runs.events import Exited, Finished, Step, Warned
from tui_label.runs.state import RunState


class FakeTimer:
    def __init__(self, seconds: float, callback) -> None:
        self.seconds, self.callback, self.stopped = seconds, callback, False

    def stop(self) -> None:
        self.stopped = True


class Recorder:
    """The callbacks a screen would give, recording what the controller does with them."""

    def __init__(self) -> None:
        self.events: list = []  # what the reader thread forwarded
        self.states: list = []  # every state reported to draw
        self.notes: list[tuple[str, dict]] = []
        self.timers: list[FakeTimer] = []

    def forward(self, event) -> None:
        self.events.append(event)

    def changed(self, state) -> None:
        self.states.append(state)

    def notify(self, message: str, **kw) -> None:
        self.notes.append((message, kw))

    def set_interval(self, seconds: float, callback) -> FakeTimer:
        self.timers.append(FakeTimer(seconds, callback))
        return self.timers[-1]

    def controller(self, db: Path, root: Path) -> TrainingController:
        return TrainingController(db, root, on_event=self.forward, changed=self.changed,
                                  notify=self.notify, set_interval=self.set_interval)


def test_attach_shows_the_last_finished_run_and_only_watches_for_a_newer_one(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.attach()
    assert ctl.state.status == "finished" and len(ctl.state.history) == 2
    assert rec.states[-1] is ctl.state
    (timer,) = rec.timers
    shown = ctl.state
    timer.callback()  # no newer run: the finished one is not read again
    assert ctl.state is shown and len(rec.states) == 1
    ctl.close()
    assert timer.stopped
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
    assert ctl.state.status == "running"
    store.update_run(run_id, status="cancelled", reason="stopped [/] by a user")
    timer.callback()
    assert ctl.state.status == "cancelled"
    assert rec.states[-1].reason == "stopped [/] by a user"
    ended = ctl.state
    timer.callback()  # ended: not read again
    assert ctl.state is ended
    ctl.close()
    store.close()


def test_a_run_started_elsewhere_is_followed(tmp_path: Path):
    """Run 1 is shown; ``tui-label train`` (or another labeler) starts run 2: its row appears
    and the controller switches to it on its next poll, and follows it to its end."""
    store = store_with_finished_run(tmp_path, DIGITS)
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.attach()
    assert ctl.state.run_id == 1
    (timer,) = rec.timers
    # What the trainer writes first: a running row with its pid, then the split sizes.
    run_id = store.create_run("resnet18", {"epochs": 3}, DIGITS)
    store.update_run(run_id, device="cpu", num_train=16, num_val=4)
    timer.callback()
    assert (ctl.state.run_id, ctl.state.status, ctl.state.model) == (run_id, "running",
                                                                      "resnet18")
    assert rec.states[-1] is ctl.state
    assert any(f"Run {run_id} started elsewhere" in message for message, _ in rec.notes)
    store.add_epoch(run_id, 1, train_loss=0.9, val_loss=1.0, report=store.epochs(1)[0]["report"],
                    seconds=1.0, images_per_sec=10.0)
    timer.callback()  # still going: its epochs come in
    assert [h.epoch for h in ctl.state.history] == [1] and ctl.state.report_epoch == 1
    store.update_run(run_id, status="finished")
    timer.callback()
    assert (ctl.state.run_id, ctl.state.status) == (run_id, "finished")
    ctl.close()
    store.close()


def test_a_run_of_its_own_is_left_to_its_events_while_the_trainer_runs(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.attach()
    (timer,) = rec.timers
    ctl.process = object()  # a trainer started here: its run row is its own
    ctl.state = own = RunState(status="starting")
    store.create_run("small-cnn", {"epochs": 1}, DIGITS)
    timer.callback()
    assert ctl.state is own
    ctl.close()
    store.close()


def test_panel_settings_are_kept_in_the_database(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    assert ctl.saved_settings() == {}
    ctl.save_settings({"model": "resnet18", "epochs": "3"})
    ctl.close()
    again = rec.controller(store.path, tmp_path / "data")
    assert again.saved_settings() == {"model": "resnet18", "epochs": "3"}
    store.set_setting(training.SETTINGS_KEY, "{not json")  # damaged: the defaults
    assert again.saved_settings() == {}
    again.close()
    store.close()


def test_an_unknown_model_is_refused_as_the_cli_refuses_it(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    rec = Recorder()
    ctl = rec.controller(store.path, tmp_path / "data")
    ctl.start({"model": "resnet1800"})
    assert ctl.process is None and ctl.state.status == "idle"
    (message, kw), = rec.notes
    assert message.startswith("unknown model 'resnet1800' (did you mean ") and "resnet18" in message
    assert message.endswith("; any torchvision classification model or small-cnn")
    assert kw["severity"] == "error"
    assert store.latest_run_id() == 1 and ctl.saved_settings() == {}  # refused: not kept
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
    assert ctl.on_event(Exited(code=2, log=str(log), offset=0)) is False
    assert ctl.state.status == "failed"
    assert ctl.state.reason == "class '[/]' has 1 label"
    assert rec.states[-1] is ctl.state
    (message, kw), = rec.notes
    assert message == "Training failed: class '[/]' has 1 label" and kw["markup"] is False


def test_events_fold_into_the_state_and_say_when_predictions_are_new(tmp_path):
    rec = Recorder()
    ctl = rec.controller(tmp_path / "none.db", tmp_path)
    step = Step(run_id=3, epoch=1, epochs=2, step=1, steps=4, loss=0.5, images_per_sec=10.0,
                eta_s=3.0)
    assert ctl.on_event(step) is False
    assert (ctl.state.run_id, ctl.state.status, ctl.state.step) == (3, "running", 1)
    assert ctl.on_event(Warned(run_id=3, message="slow disk")) is False
    assert ctl.state.warnings == ["slow disk"]
    assert ctl.on_event(Finished(run_id=3, best_accuracy=0.9, best_checkpoint="b.pt")) is True
    assert ctl.state.status == "finished" and ctl.state.best_checkpoint == "b.pt"
    assert len(rec.states) == 3 and rec.notes == []  # the notice comes when the process exits


def test_the_reader_forwards_typed_events_and_skips_what_is_not_one(tmp_path, monkeypatch):
    lines = ['{"event": "warning", "run_id": 7, "time": 1.0, "message": "hello"}',
             "a stray print", '{"event": "from-a-newer-trainer", "run_id": 7}',
             '{"event": "step", "run_id": 7}',  # fields missing: not an event
             '{"event": "failed", "run_id": 7, "time": 2.0, "reason": "out of memory"}']
    script = "import sys; sys.stdout.write(sys.argv[1]); sys.exit(3)"
    monkeypatch.setattr(training, "trainer_command",
                        lambda opts: [sys.executable, "-c", script, "\n".join(lines) + "\n"])
    rec = Recorder()
    ctl = rec.controller(tmp_path / "t.db", tmp_path)
    ctl.start({})
    ctl.process.wait()
    for _ in range(200):  # the reader thread forwards the exit last
        if rec.events and isinstance(rec.events[-1], Exited):
            break
        __import__("time").sleep(0.01)
    warned, failed, exited = rec.events
    assert warned == Warned(run_id=7, time=1.0, message="hello")
    assert (failed.kind, failed.reason) == ("failed", "out of memory")
    assert exited.code == 3 and exited.log.endswith("trainer.log")
    for event in rec.events:
        ctl.on_event(event)
    assert ctl.state.status == "failed" and ctl.state.reason == "out of memory"
    ctl.close()


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

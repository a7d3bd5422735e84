"""``tui-label train --resume RUN``: a cancelled or failed run goes on where it stopped (its
epochs, its learning-rate schedule, its random state), in the same run row; every input it
refuses is one line with exit code 2 and leaves the store as it was."""

from __future__ import annotations

import functools
import io
import os
import sqlite3
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.helpers.cli import assert_usage_error, run_cli
from tests.helpers.resume import EPOCHS, StopWhen, cancelled_run, resume
from tests.helpers.training import (
    NAMES,
    integrity,
    label_where,
    make_db,
    opts_for,
    parse_events,
    run_row,
    train_in_process,
)
from tui_label.config.settings import ClassSpec
from tui_label.errors import UsageError
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.store import Store
from tui_label.trainer import data as tdata
from tui_label.trainer import loop, models
from tui_label.trainer import run as trainer
from tui_label.trainer.stopper import Stopper


@pytest.fixture
def lrs(monkeypatch) -> list[float]:
    """The learning rate of every optimizer step of the runs in this test, in order."""
    seen: list[float] = []

    class RecordingFit(loop.Fit):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            step = self.optimizer.step

            @functools.wraps(step)  # keeps the scheduler's mark on it (no warning)
            def recorded(*a, **k):
                seen.append(self.optimizer.param_groups[0]["lr"])
                return step(*a, **k)

            self.optimizer.step = recorded

    monkeypatch.setattr(loop, "Fit", RecordingFit)
    return seen






def epoch_rows(db: Path, run_id: int) -> list[dict]:
    store = Store(db)
    try:
        return store.epochs(run_id)
    finally:
        store.close()


class DropoutCNN(models.SmallCNN):
    """Draws from torch's global random state while it trains (as many models' dropout does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.dropout(self.features(x), p=0.3, training=self.training))


@pytest.mark.parametrize("dropout", [False, True], ids=["small-cnn", "with-dropout"])
def test_resume_continues_the_epochs_and_the_schedule_of_an_uninterrupted_run(
        tmp_path, lrs, monkeypatch, dropout):
    if dropout:
        monkeypatch.setattr(trainer, "build_model", lambda name, n, **kw: DropoutCNN(n))
    root, db, _ = make_db(tmp_path)
    code, _ = train_in_process(opts_for(root, db, epochs=EPOCHS, seed=5))
    assert code == 0
    full = list(lrs)
    full_rows = epoch_rows(db, 1)
    full_last = torch.load(run_row(db, 1)["last_checkpoint"], weights_only=True)
    lrs.clear()

    run_id, stopped = cancelled_run(root, db, after=2)
    assert [e["epoch"] for e in stopped if e["event"] == "epoch"] == [1, 2]
    assert f"--resume {run_id}" in stopped[-1]["reason"]
    before = len(lrs)
    assert before == len(full) // 2  # two of four epochs: nothing of the third was trained

    code, events = resume(db, run_id)
    assert code == 0, events
    assert {e["run_id"] for e in events} == {run_id}
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [3, 4]
    assert lrs == full  # every step's rate, the second half continuing the first
    run = run_row(db, run_id)
    assert run["status"] == "finished" and run["reason"] is None
    assert run["pid"] == os.getpid() and run["finished_at"]
    rows = epoch_rows(db, run_id)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    # Same seed, same steps: the resumed epochs are the uninterrupted run's epochs.
    for row, ref in zip(rows, full_rows, strict=True):
        assert row["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-5), row["epoch"]
        assert row["val_loss"] == pytest.approx(ref["val_loss"], rel=1e-5), row["epoch"]
    last = torch.load(run["last_checkpoint"], weights_only=True)
    assert last["epoch"] == EPOCHS
    assert last["scheduler"]["last_epoch"] == full_last["scheduler"]["last_epoch"]
    assert last["scheduler"]["_last_lr"] == full_last["scheduler"]["_last_lr"]
    for key, tensor in full_last["model"].items():
        assert torch.allclose(last["model"][key].float(), tensor.float(), atol=1e-5), key
    assert run["best_accuracy"] == run_row(db, 1)["best_accuracy"]


def test_a_checkpoint_carries_what_a_resume_needs(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=6)
    code, events = train_in_process(opts_for(root, db, epochs=2))
    assert code == 0
    ckpt = torch.load(events[-1]["last_checkpoint"], weights_only=True)
    assert ckpt["epoch"] == 2
    assert ckpt["optimizer"]["state"] and ckpt["scheduler"]["last_epoch"] == \
        2 * ckpt["steps_per_epoch"]
    assert ckpt["scaler"] is None  # a CPU run has none
    assert ckpt["best_accuracy"] == run_row(db, events[-1]["run_id"])["best_accuracy"]
    assert isinstance(ckpt["rng"]["torch"], torch.Tensor)
    assert isinstance(ckpt["rng"]["generator"], torch.Tensor)


def test_a_failed_run_resumes_and_a_stop_in_its_first_resumed_epoch_keeps_its_checkpoint(
        tmp_path, monkeypatch):
    root, db, _ = make_db(tmp_path, per_class=6)
    run_id, _ = cancelled_run(root, db, after=1)
    last = Path(run_row(db, run_id)["last_checkpoint"])
    saved = last.read_bytes()
    # Resumed, then stopped again at its first step: last.pt is still epoch 1's.
    stopper = Stopper()
    emitter = StopWhen(stopper, lambda e, d: e == "started")
    code = trainer.train(TrainOptions(db=db, resume=run_id, events="json"), emitter, stopper)
    events = parse_events(emitter.stream.getvalue())
    assert code == 130, events
    assert "in epoch 2" in events[-1]["reason"] and "(epoch 1)" in events[-1]["reason"]
    assert last.read_bytes() == saved
    assert [r["epoch"] for r in epoch_rows(db, run_id)] == [1]
    # A failure in epoch 2 (the store marks it failed) is resumable too.
    store = Store(db)
    store.update_run(run_id, status="failed", reason="boom")
    store.close()
    code, events = resume(db, run_id)
    assert code == 0, events
    assert [r["epoch"] for r in epoch_rows(db, run_id)] == [1, 2, 3, 4]


def test_a_run_whose_trainer_died_is_resumed_and_its_unsaved_epochs_dropped(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=6)
    run_id, _ = cancelled_run(root, db, after=2)
    store = Store(db)
    # As a killed trainer leaves it: running, a dead pid, an epoch row past its checkpoint.
    store.conn.execute("UPDATE runs SET status = 'running', pid = ?, finished_at = NULL "
                       "WHERE id = ?", (dead_pid(), run_id))
    row = epoch_rows(db, run_id)[-1]
    store.add_epoch(run_id, 3, train_loss=9.0, val_loss=9.0, report=row["report"],
                    seconds=1.0, images_per_sec=1.0)
    store.close()
    code, events = resume(db, run_id)
    assert code == 0, events
    rows = epoch_rows(db, run_id)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4] and rows[2]["train_loss"] != 9.0


def test_resume_takes_the_device_and_event_format_but_keeps_the_run_settings(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=6)
    run_id, _ = cancelled_run(root, db, after=3)
    out = io.StringIO()
    code = trainer.train(TrainOptions(db=db, resume=run_id, device="cpu", events="human"),
                        Emitter("human", stream=out))
    assert code == 0
    assert "epoch 4/4" in out.getvalue()
    run = run_row(db, run_id)
    assert run["config"]["epochs"] == EPOCHS and run["config"]["image_size"] == 16
    assert run["config"]["resume"] is None  # the stored settings are the run's own


def dead_pid() -> int:
    """A pid of this host that belongs to no process."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- refused: one line, exit 2, nothing written ----------------------------------------------

def store_state(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                     for table in ("runs", "run_epochs", "label_events", "classes"))
    finally:
        conn.close()


def fake_run(db: Path, *, status: str = "cancelled", checkpoint: str | None = "last.pt",
             pid: int | None = None, host: str | None = None, names: list[str] = NAMES) -> int:
    """A run row as the trainer leaves it, with ``checkpoint`` (a name under the db's folder,
    or None) as its last checkpoint."""
    store = Store(db)
    try:
        run_id = store.create_run("small-cnn", opts_for(None, db, epochs=EPOCHS).to_json(),
                                  names)
        fields = {"status": status, "pid": pid if pid is not None else dead_pid()}
        if host is not None:
            fields["host"] = host
        if checkpoint is not None:
            fields["last_checkpoint"] = str(db.parent / checkpoint)
        if status == "running":
            fields.update(pid=os.getpid() if pid is None else pid)
        store.update_run(run_id, **fields)
        return run_id
    finally:
        store.close()


def write_checkpoint(db: Path, kind: str) -> None:
    path = db.parent / "last.pt"
    if kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "foreign":
        torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    elif kind == "first-epoch":  # as a stop in epoch 1 leaves it
        torch.save({"model": {}, "epoch": 0, "class_names": NAMES}, path)
    elif kind == "other-classes":
        torch.save({"model": {}, "epoch": 2, "class_names": ["cat", "dog"]}, path)
    elif kind == "older":  # weights and epoch, no optimizer or schedule state
        torch.save({"model": {}, "epoch": 2, "class_names": NAMES, "config": {}}, path)


def add_class(db: Path) -> None:
    store = Store(db)
    store.set_classes([*(ClassSpec(n, str(k + 1)) for k, n in enumerate(NAMES)),
                       ClassSpec("yellow", "4")])
    store.close()


# (what to make, the message fragment)
BAD = {
    "no such run": (lambda db: 99, "there is no run 99"),
    "finished": (lambda db: fake_run(db, status="finished"), "has finished"),
    "still running": (lambda db: fake_run(db, status="running"), "is still running (pid"),
    "running elsewhere": (lambda db: fake_run(db, status="running", host="elsewhere"),
                          "is running on elsewhere"),
    "no last checkpoint": (lambda db: fake_run(db, checkpoint=None), "has no last checkpoint"),
    "checkpoint missing": (lambda db: fake_run(db), "last.pt is missing"),
    "not a checkpoint": (lambda db: (write_checkpoint(db, "text"), fake_run(db))[1],
                         "is not a tui-label checkpoint"),
    "another program's checkpoint": (
        lambda db: (write_checkpoint(db, "foreign"), fake_run(db))[1],
        "is not a tui-label checkpoint"),
    "another run's checkpoint": (
        lambda db: (write_checkpoint(db, "other-classes"), fake_run(db))[1],
        "(other classes)"),
    "stopped in its first epoch": (
        lambda db: (write_checkpoint(db, "first-epoch"), fake_run(db))[1],
        "stopped in its first epoch"),
    "older checkpoint": (lambda db: (write_checkpoint(db, "older"), fake_run(db))[1],
                         "state a resume needs"),
    "class added": (lambda db: (write_checkpoint(db, "text"), fake_run(db), add_class(db))[1],
                    "other classes (class 'yellow' added since)"),
    # The store keeps every class it had: a class is gone when the run had one it lacks.
    "class removed": (
        lambda db: (write_checkpoint(db, "text"), fake_run(db, names=[*NAMES, "purple"]))[1],
        "other classes (class 'purple' removed since)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_refused_resume_is_one_line_and_writes_nothing(tmp_path, case):
    make, fragment = BAD[case]
    _, db, _ = make_db(tmp_path, per_class=3)
    run_id = make(db)
    before = store_state(db)
    code, out, err = run_cli("train", "--db", str(db), "--resume", str(run_id))
    assert_usage_error(code, err, fragment)
    assert err.strip().startswith(f"tui-label: error: --resume {run_id}: ")
    assert out == ""
    assert store_state(db) == before
    assert integrity(db) == "ok"


@pytest.mark.parametrize("case", ["no such run", "still running", "not a checkpoint"])
def test_the_engine_refuses_before_it_writes(tmp_path, case):
    """The same checks in process (the panel's trainer and tests call the engine)."""
    make, fragment = BAD[case]
    _, db, _ = make_db(tmp_path, per_class=3)
    run_id = make(db)
    before = store_state(db)
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(")):
        trainer.train(TrainOptions(db=db, resume=run_id), Emitter("json", stream=io.StringIO()))
    assert store_state(db) == before


@pytest.mark.parametrize("args, fragment", [
    (["--epochs", "8"], "--epochs cannot be given with it"),
    (["--epochs", "10"], "--epochs cannot be given with it"),  # the default, but typed
    (["--model", "resnet18", "--lr", "0.1"], "--model, --lr cannot be given with it"),
    (["--no-hflip"], "--hflip cannot be given with it"),
])
def test_run_settings_cannot_change_on_resume(tmp_path, args, fragment):
    _, db, _ = make_db(tmp_path, per_class=3)
    run_id = fake_run(db)
    before = store_state(db)
    code, out, err = run_cli("train", "--db", str(db), "--resume", str(run_id), *args)
    assert_usage_error(code, err, fragment)
    assert store_state(db) == before


def test_labels_added_since_are_trained_on_and_the_schedule_keeps_its_length(tmp_path, lrs,
                                                                            monkeypatch):
    # One pass an epoch whatever the set's size: more labels, more steps per epoch.
    monkeypatch.setattr(tdata, "MIN_STEPS_PER_EPOCH", 1)
    monkeypatch.setattr(tdata, "MIN_STEPS_WITH_UNLABELED", 1)
    root, db, _ = make_db(tmp_path, keep=lambda path: int(path[-7:-4]) < 8)
    run_id, _ = cancelled_run(root, db, after=2)
    store = Store(db)
    assert label_where(store) > 0  # the rest of the images, after the run stopped
    store.close()
    total_steps = torch.load(run_row(db, run_id)["last_checkpoint"],
                             weights_only=True)["scheduler"]["total_steps"]
    code, events = resume(db, run_id)
    assert code == 0, events
    warning = next(e["message"] for e in events if e["event"] == "warning")
    assert "steps per epoch" in warning and "keeps its original length" in warning
    assert [r["epoch"] for r in epoch_rows(db, run_id)] == [1, 2, 3, 4]
    assert len(lrs) > total_steps  # more steps than the schedule had: the last ones at its end
    last = torch.load(run_row(db, run_id)["last_checkpoint"], weights_only=True)
    assert last["scheduler"]["last_epoch"] == total_steps
    assert set(lrs[total_steps:]) == {last["scheduler"]["_last_lr"][0]} != {lrs[0]}


@pytest.mark.torch
def test_the_command_line_resumes_with_the_options_it_allows(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=6)
    run_id, _ = cancelled_run(root, db, after=3)
    code, out, err = run_cli("train", str(root), "--db", str(db), "--resume", str(run_id),
                             "--device", "cpu", "--events", "json", "--nice", "1")
    assert code == 0, err
    events = parse_events(out)
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [4]
    assert events[-1]["event"] == "finished" and events[-1]["run_id"] == run_id
    assert [r["epoch"] for r in epoch_rows(db, run_id)] == [1, 2, 3, 4]


def test_the_processes_of_a_resumed_run_are_its_own_or_all_of_todays():
    from tui_label.runs.resume import resumed_options

    config = TrainOptions(db=Path("/x/l.db"), nproc=2, nnodes=2, master_addr="10.0.0.5",
                          master_port=29601, device="cpu").to_json()
    run = {"id": 7, "config": config}
    # Nothing given: as it began, two processes on each of two machines.
    again = resumed_options(TrainOptions(db=Path("/x/l.db"), resume=7), run)
    assert (again.nproc, again.nnodes, again.node_rank, again.master_addr,
            again.master_port) == (2, 2, 0, "10.0.0.5", 29601)
    # The second machine says which it is; the rest is the run's.
    joining = resumed_options(TrainOptions(db=Path("/x/l.db"), resume=7, node_rank=1), run)
    assert (joining.nproc, joining.nnodes, joining.node_rank) == (2, 2, 1)
    # Processes given: the whole layout is today's, so it can go on on one machine.
    one = resumed_options(TrainOptions(db=Path("/x/l.db"), resume=7, gpus=4), run)
    assert (one.gpus, one.nproc, one.nnodes, one.node_rank, one.master_port) == (
        4, None, 1, 0, 29500)

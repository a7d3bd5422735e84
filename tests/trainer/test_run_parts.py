"""The trainer's headless parts on their own: the run context, how a run's end is recorded,
the prediction shares' files, the epoch loop's stop check and checkpoints."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tests.helpers.training import opts_for, parse_events
from tui_label.config.paths import runs_dir
from tui_label.runs.emit import Emitter
from tui_label.store import StoreWriteError
from tui_label.trainer import run as trainer
from tui_label.trainer.checkpoint import restore_fit
from tui_label.trainer.context import Cancelled, NaNLoss, NoWrites, RunContext
from tui_label.trainer.distributed import ALONE
from tui_label.trainer.fit import Fit
from tui_label.trainer.loop import Checkpoints, StopCheck
from tui_label.trainer.models import SmallCNN
from tui_label.trainer.shares import ShareFiles
from tui_label.trainer.stopper import Stopper


class Updates:
    """A store that records ``update_run`` calls, and a writer that calls them."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[int, dict]] = []
        self.fail = fail

    def update_run(self, run_id: int, **fields) -> None:
        self.calls.append((run_id, fields))

    def must(self, what: str, write, *args, **kwargs):
        if self.fail:
            raise StoreWriteError("locked", f"could not write {what}: database is locked")
        return write(*args, **kwargs)


def context(tmp_path: Path, store=None, writer=None, stopper=None) -> RunContext:
    store = store or Updates()
    return RunContext(opts_for(tmp_path, tmp_path / "labels.db"), store, writer or store,
                      Emitter("json", stream=io.StringIO()), stopper or Stopper(), 7,
                      tmp_path, ["a", "b"], {1: 0, 2: 1}, torch.device("cpu"), ALONE)


def test_the_context_knows_the_runs_folder_and_its_checkpoints(tmp_path):
    ctx = context(tmp_path)
    assert ctx.out_dir == runs_dir((tmp_path / "labels.db").resolve()) / "run-7"
    assert ctx.out_dir.is_absolute()
    assert (ctx.best_path.name, ctx.last_path.name) == ("best.pt", "last.pt")
    assert ctx.best_path.parent == ctx.last_path.parent == ctx.out_dir
    ctx.check_stop()  # no stop asked for: nothing happens
    ctx.stopper.requested = "SIGTERM"
    with pytest.raises(Cancelled, match="stopped by SIGTERM"):
        ctx.check_stop(3)


def test_record_end_writes_the_status_and_announces_it(tmp_path):
    ctx = context(tmp_path)
    assert trainer.record_end(ctx, "cancelled", "stopped by SIGINT") == 130
    assert trainer.record_end(ctx, "failed", "boom") == 1
    assert ctx.store.calls == [(7, {"status": "cancelled", "reason": "stopped by SIGINT"}),
                               (7, {"status": "failed", "reason": "boom"})]
    events = parse_events(ctx.emitter.stream.getvalue())
    assert [(e["event"], e["reason"]) for e in events] == [("cancelled", "stopped by SIGINT"),
                                                          ("failed", "boom")]


def test_record_end_still_announces_when_the_write_fails(tmp_path):
    ctx = context(tmp_path, writer=Updates(fail=True))
    assert trainer.record_end(ctx, "failed", "boom") == 1
    (event,) = parse_events(ctx.emitter.stream.getvalue())
    assert event["event"] == "failed"
    assert event["reason"] == "boom; could not write the failed status: database is locked"


def test_why_a_run_ended(tmp_path):
    opts = opts_for(tmp_path, tmp_path / "labels.db", batch_size=64)
    assert trainer._why_it_ended(Cancelled("stopped by SIGINT in epoch 2"), opts) == (
        "cancelled", "stopped by SIGINT in epoch 2")
    assert trainer._why_it_ended(NaNLoss("the loss became nan"), opts) == (
        "failed", "the loss became nan")
    status, reason = trainer._why_it_ended(torch.cuda.OutOfMemoryError("oom"), opts)
    assert status == "failed" and "--batch-size 32" in reason
    assert trainer._why_it_ended(KeyError("x"), opts) == ("failed", "KeyError: 'x'")


def test_the_other_ranks_write_nothing():
    writes = NoWrites()
    assert writes.must("anything", lambda: pytest.fail("written")) is None
    assert writes.progress(1, {"step": 1}) is False


def test_share_files_are_published_whole_and_removed(tmp_path):
    files = ShareFiles(tmp_path, "abc")
    files.path(1, ".part").write_text("no predictions: rank 1: boom")
    assert not files.path(1, ".problem").exists()
    files.publish(1, ".problem")
    assert files.path(1, ".problem").read_text() == "no predictions: rank 1: boom"
    assert not files.path(1, ".part").exists()
    (tmp_path / "predictions-old-rank0.npz").write_bytes(b"left over")
    (tmp_path / "best.pt").write_bytes(b"kept")
    files.remove_all()
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def small_fit(ctx: RunContext) -> tuple[SmallCNN, Fit]:
    model = SmallCNN(2)
    fit = Fit(model, ctx.opts, ctx.device, torch.tensor([0, 1] * 8), 2,
              torch.Generator().manual_seed(0))
    return model, fit


def test_checkpoints_keep_the_best_accuracy_and_write_best_only_when_better(tmp_path):
    ctx = context(tmp_path)
    model, fit = small_fit(ctx)
    checkpoints = Checkpoints(ctx, model, fit)
    checkpoints.record(1, {"accuracy": 0.5}, None)
    checkpoints.record(2, {"accuracy": 0.4}, None)
    assert checkpoints.best_accuracy == 0.5
    best = torch.load(ctx.best_path, weights_only=True)
    last = torch.load(ctx.last_path, weights_only=True)
    assert (best["epoch"], best["best_accuracy"]) == (1, 0.5)
    assert (last["epoch"], last["best_accuracy"]) == (2, 0.5)
    assert last["class_names"] == ["a", "b"] and "optimizer" in last and "rng" in last
    events = [e for e in parse_events(ctx.emitter.stream.getvalue())
              if e["event"] == "checkpoint"]
    assert [(e["epoch"], e["best"]) for e in events] == [(1, True), (2, False)]


def test_a_stop_in_epoch_1_keeps_what_it_learned(tmp_path):
    ctx = context(tmp_path)
    model, fit = small_fit(ctx)
    stop = StopCheck(ctx, Checkpoints(ctx, model, fit))
    stop(1)  # not asked: goes on
    ctx.stopper.requested = "SIGINT"
    with pytest.raises(Cancelled, match="stopped by SIGINT in epoch 1; last checkpoint"):
        stop(1)
    assert torch.load(ctx.last_path, weights_only=True)["epoch"] == 0
    assert ctx.store.calls == [(7, {"last_checkpoint": str(ctx.last_path)})]
    with pytest.raises(Cancelled, match=r"in epoch 3; .* \(epoch 2\): tui-label train "
                                        r"--resume 7 goes on from there"):
        stop(3)


def test_restore_fit_needs_only_what_it_reads():
    # checkpoint.restore_fit takes anything shaped like Fit (checkpoint.Resumable).
    fit = SimpleNamespace(opts=SimpleNamespace(seed=1), steps=3,
                          generator=torch.Generator(), load_state_dict=lambda state: None)
    ckpt = {"steps_per_epoch": 3, "rng": None, "rank_rng": None, "epoch": 2,
            "best_accuracy": 0.75}
    emitter = Emitter("json", stream=io.StringIO())
    world = SimpleNamespace(rank=1, size=2)  # another number of ranks: a fresh generator
    assert restore_fit(fit, ckpt, torch.device("cpu"), emitter, world) == (3, 0.75)
    assert emitter.stream.getvalue() == ""

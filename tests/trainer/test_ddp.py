"""Several processes, one run: ``tui-label train --nproc 2 --device cpu`` (torchrun, DDP with
the gloo backend). Rank 0 alone writes the store and sends events; a dead rank fails the run
on every rank with the reason."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.cli import assert_usage_error, db_fingerprint
from tests.helpers.training import make_db, parse_events, train_cmd
from tui_label.cli import main as cli
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.store import Store
from tui_label.trainer import distributed, launch, shares
from tui_label.trainer import run as trainer
from tui_label.trainer.context import NoWrites, RunContext
from tui_label.trainer.data import TrainedData
from tui_label.trainer.distributed import World

pytestmark = pytest.mark.torch


def runs_and_epochs(db: Path) -> tuple[list[tuple], list[tuple]]:
    store = Store(db)
    try:
        runs = [tuple(r) for r in store.conn.execute(
            "SELECT id, status, num_train, num_val FROM runs ORDER BY id")]
        epochs = [tuple(r) for r in store.conn.execute(
            "SELECT run_id, epoch FROM run_epochs ORDER BY run_id, epoch")]
    finally:
        store.close()
    return runs, epochs


def test_two_gloo_ranks_train_one_run(tmp_path: Path):
    root, db, labeled = make_db(tmp_path, per_class=8)
    done = subprocess.run(train_cmd(root, db, 3, "--nproc", "2"), capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    events = parse_events(done.stdout)
    kinds = [e["event"] for e in events]
    # One source of events (rank 0): one start, three epochs, one end.
    assert kinds.count("started") == 1 and kinds.count("finished") == 1
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2, 3]
    started = next(e for e in events if e["event"] == "started")
    assert started["world_size"] == 2
    # One writer: exactly one run row and one set of epoch rows.
    runs, epochs = runs_and_epochs(db)
    assert len(runs) == 1 and runs[0][1] == "finished"
    assert runs[0][2] + runs[0][3] == labeled
    assert epochs == [(runs[0][0], 1), (runs[0][0], 2), (runs[0][0], 3)]
    # The validation metrics cover every validation image (gathered over both ranks).
    last = [e for e in events if e["event"] == "epoch"][-1]
    assert sum(sum(row) for row in last["confusion"]) == runs[0][3]
    assert next(e for e in events if e["event"] == "predicted")["images"] > 0


def test_the_ranks_predict_shares_that_add_up_to_one_process_predicting_all(tmp_path: Path):
    from tui_label.assist.predictions import PredictionSet, predictions_dir
    from tui_label.config.paths import runs_dir

    root, db, labeled = make_db(tmp_path, per_class=8,
                                keep=lambda path: not path.endswith(("006.png", "007.png")))
    done = subprocess.run(train_cmd(root, db, 2, "--nproc", "2"), capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    events = parse_events(done.stdout)
    run_id = events[-1]["run_id"]
    run_dir = runs_dir(db.resolve()) / f"run-{run_id}"
    shared = PredictionSet.load(predictions_dir(run_dir))
    ids, probs = np.array(shared.ids), np.array(shared.probs)
    assert list(run_dir.glob("predictions-rank*")) == []  # the shares were merged, then removed
    store = Store(db)
    try:
        every = [i for i, _ in store.readable_images()]
        assert store.run(run_id)["predicted_at"] and store.run(run_id)["reason"] is None
    finally:
        store.close()
    assert ids.tolist() == every and len(every) > labeled  # each image once, unlabeled too
    assert next(e for e in events if e["event"] == "predicted")["images"] == len(every)
    # One process predicting all of them with the same checkpoint gives the same numbers.
    again = subprocess.run([sys.executable, "-m", "tui_label", "predict", "--db", str(db),
                            "--run", str(run_id), "--device", "cpu"],
                           capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr[-2000:]
    alone = PredictionSet.load(predictions_dir(run_dir))
    assert np.array(alone.ids).tolist() == every
    assert np.allclose(np.array(alone.probs), probs, atol=1e-5)


def test_predicting_in_shares_splits_the_images_without_overlap(tmp_path: Path):
    from tui_label.trainer import predict
    from tui_label.trainer.models import build_model

    root, db, _ = make_db(tmp_path, per_class=4)
    model = build_model("small-cnn", 3, pretrained=False).eval()
    predictor = predict.Predictor(model, torch.device("cpu"), 8)
    store = Store(db)
    try:
        alone = predict.predict_images(predictor, store, root, 16, Emitter("json",
                                       stream=io.StringIO()))
        parts = [predict.predict_images(predictor, store, root, 16,
                                        Emitter("json", stream=io.StringIO()), share=(k, 3))
                 for k in range(3)]
    finally:
        store.close()
    assert all(len(p[0]) > 0 for p in parts)
    assert sorted(i for p in parts for i in p[0].tolist()) == alone[0].tolist()
    for k, (ids, probs, _) in enumerate(parts):
        assert all(i % 3 == k for i in ids.tolist())
        rows = np.searchsorted(alone[0], ids)
        assert np.allclose(alone[1][rows], probs, atol=1e-6)


def test_other_ranks_open_the_store_read_only_and_send_no_events(tmp_path: Path, monkeypatch):
    """Rank 1's wiring, in this process: a read-only store, no writer, events to nowhere."""
    root, db, _ = make_db(tmp_path, per_class=4)
    seen = {}

    def fake_train(opts, store, writer, emitter, stopper, world):
        seen.update(readonly=store.readonly, writer=type(writer).__name__,
                    stream=emitter.stream.name, rank=world.rank)
        return 0

    monkeypatch.setattr(World, "from_env", classmethod(lambda cls: World(1, 2, 1)))
    monkeypatch.setattr(trainer, "_train", fake_train)
    before = db_fingerprint(db)
    out = io.StringIO()
    opts = TrainOptions(db=db, root=root, device="cpu", events="json")
    assert trainer.train(opts, Emitter("json", stream=out)) == 0
    assert seen == {"readonly": True, "writer": "NoWrites", "stream": os.devnull, "rank": 1}
    assert out.getvalue() == "" and db_fingerprint(db) == before


def rank_pids(run_id: int) -> dict[int, int]:
    """The ranks of run ``run_id`` on this machine: {rank: pid} (from their environment)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = dict(item.split("=", 1) for item in
                       (entry / "environ").read_bytes().decode(errors="replace").split("\0")
                       if "=" in item)
        except OSError:
            continue
        if env.get(distributed.RUN_ID_ENV) == str(run_id) and "RANK" in env \
                and "LOCAL_RANK" in env:
            found[int(env["RANK"])] = int(entry.name)
    return found


def start_long_run(root: Path, db: Path) -> tuple[subprocess.Popen, int]:
    """A 2-rank run that would train for ages, once its first step is done: (process, run)."""
    proc = subprocess.Popen(train_cmd(root, db, 100000, "--nproc", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = None
    assert proc.stdout is not None
    for line in proc.stdout:
        event = parse_events(line)[0]
        run_id = event["run_id"] or run_id
        if event["event"] == "step":
            break
    assert run_id is not None
    return proc, run_id


def test_a_killed_rank_fails_the_run_with_the_reason(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=8)
    proc, run_id = start_long_run(root, db)
    try:
        pids = rank_pids(run_id)
        assert set(pids) == {0, 1}, pids
        os.kill(pids[1], signal.SIGKILL)
        rest = proc.stdout.read()
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 1
    failed = [e for e in parse_events(rest) if e["event"] == "failed"]
    assert failed and failed[-1]["reason"].startswith("rank 1 ended (killed by SIGKILL)")
    runs, _ = runs_and_epochs(db)
    store = Store(db)
    try:
        run = store.run(run_id)
    finally:
        store.close()
    assert runs == [(run_id, "failed", run["num_train"], run["num_val"])]
    assert run["reason"] == failed[-1]["reason"]
    deadline = time.monotonic() + 30
    while rank_pids(run_id) and time.monotonic() < deadline:  # no rank left behind
        time.sleep(0.2)
    assert rank_pids(run_id) == {}


def call(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="counts the GPUs of a machine with none")
def test_more_gpus_than_present_is_a_usage_error(tmp_path: Path, capsys):
    root, db, _ = make_db(tmp_path, per_class=4)
    before = db_fingerprint(db)
    code, _, err = call(capsys, "train", str(root), "--db", str(db), "--gpus", "2")
    assert_usage_error(code, err, "--gpus 2: this machine has 0 CUDA GPU(s)")
    assert db_fingerprint(db) == before


@pytest.mark.parametrize("args, message", [
    (["--nproc", "2", "--batch-size", "7"],
     "--batch-size 7 does not divide among 2 processes"),
    (["--nproc", "2", "--gpus", "2"], "give --gpus or --nproc, not both"),
    (["--nnodes", "2"], "--nnodes needs --gpus or --nproc"),
    (["--nproc", "2", "--nnodes", "2", "--node-rank", "2"],
     "--node-rank must be between 0 and --nnodes - 1"),
    (["--nproc", "0"], "--nproc must be at least 1"),
    (["--nproc", "2", "--device", "mps"], "several processes train on CUDA GPUs or the CPU"),
    (["--gpus", "1", "--device", "cpu"], "--gpus trains on CUDA GPUs, not --device cpu"),
])
def test_bad_process_options_are_one_line_and_write_nothing(tmp_path: Path, capsys, args,
                                                            message):
    root, db, _ = make_db(tmp_path, per_class=4)
    before = db_fingerprint(db)
    code, _, err = call(capsys, "train", str(root), "--db", str(db), *args)
    assert_usage_error(code, err, message)
    assert db_fingerprint(db) == before


def test_torchrun_command_line():
    opts = TrainOptions(db=Path("/x/l.db"), root=Path("/data"), nproc=2, device="cpu",
                        epochs=3, nice=10)
    cmd = launch.command(opts, "json")
    assert cmd[:5] == [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
                       "--standalone"]
    rank_args = cmd[cmd.index("tui_label.trainer") + 1:]
    assert "--epochs=3" in rank_args and "--events=json" in rank_args
    assert not any(a.startswith(("--nproc", "--gpus", "--nice")) for a in rank_args)
    assert rank_args[-2:] == ["--", "/data"]
    two = TrainOptions(db=Path("/x/l.db"), nproc=4, nnodes=2, node_rank=1,
                       master_addr="10.0.0.5", master_port=29611, device="cpu")
    cmd = launch.command(two, "human")
    assert "--nnodes=2" in cmd and "--node-rank=1" in cmd and "--standalone" not in cmd
    assert "--master-addr=10.0.0.5" in cmd and "--master-port=29611" in cmd
    # A resumed run's ranks start from its checkpoint: no --weights (it may be gone since),
    # no pretrained weights, no --resume (the launcher reopened the run).
    resumed = TrainOptions(db=Path("/x/l.db"), nproc=2, device="cpu", resume=3,
                           weights=Path("/gone.pt"), pretrained=None)
    rank_args = launch.command(resumed, "json")
    assert not any(a.startswith(("--weights", "--resume")) for a in rank_args)
    assert "--no-pretrained" in rank_args


def test_root_cause_from_torchrun_summary():
    summary = """
Root Cause (first observed failure):
[0]:
  time      : 2026-11-26_01:02:03
  host      : box
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 4242)
  error_file: <N/A>
"""
    assert launch.root_cause("noise\n" + summary) == (1, -9)
    assert launch.describe_exit(-9) == "killed by SIGKILL"
    assert launch.describe_exit(3) == "exit code 3"
    assert launch.root_cause("no summary") is None


def test_shards_cover_every_image_once_per_epoch():
    order = distributed.epoch_order(11, seed=0, epoch=1)
    shards = [World(r, 3).shard(order) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]  # padded to equal steps on every rank
    assert len(torch.cat(shards)) == 12  # (the padding repeats the first one)
    assert set(torch.cat(shards).tolist()) == set(range(11))
    assert torch.equal(order, distributed.epoch_order(11, seed=0, epoch=1))  # same on all
    assert not torch.equal(order, distributed.epoch_order(11, seed=0, epoch=2))


def test_stopping_the_launcher_cancels_every_rank(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=8)
    proc, run_id = start_long_run(root, db)
    try:
        proc.send_signal(signal.SIGTERM)  # what the panel's T sends
        rest = parse_events(proc.stdout.read())
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130
    assert [e["event"] for e in rest][-1] == "cancelled"
    store = Store(db)
    try:
        assert store.run(run_id)["status"] == "cancelled"
    finally:
        store.close()
    assert rank_pids(run_id) == {}


def train_events(cmd: list[str]) -> tuple[int, list[dict], str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return done.returncode, parse_events(done.stdout), done.stderr


def epoch_losses(db: Path, run_id: int) -> dict[int, tuple[float, float]]:
    store = Store(db)
    try:
        return {r["epoch"]: (r["train_loss"], r["val_loss"]) for r in store.epochs(run_id)}
    finally:
        store.close()


def test_a_stopped_ddp_run_resumes_on_as_many_ranks_as_if_never_stopped(tmp_path: Path):
    epochs = 8
    root, db, _ = make_db(tmp_path, per_class=8)
    # The reference: the same run, never stopped.
    code, events, err = train_events(train_cmd(root, db, epochs, "--nproc", "2", "--seed",
                                               "3"))
    assert code == 0, err[-3000:]
    full = epoch_losses(db, events[-1]["run_id"])
    full_ckpt = torch.load(events[-1]["last_checkpoint"], weights_only=True)
    assert len(full_ckpt["rank_rng"]) == 2  # each rank's own random state

    proc = subprocess.Popen(train_cmd(root, db, epochs, "--nproc", "2", "--seed", "3"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = None
    try:
        for line in proc.stdout:
            event = parse_events(line)[0]
            run_id = event["run_id"] or run_id
            if event["event"] == "checkpoint" and event["epoch"] == 2:
                proc.send_signal(signal.SIGTERM)
                break
        rest = parse_events(proc.stdout.read())
        assert proc.wait(timeout=120) == 130, proc.stderr.read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rest[-1]["event"] == "cancelled" and f"--resume {run_id}" in rest[-1]["reason"]
    kept = max(epoch_losses(db, run_id))  # the last finished epoch (2, or 3 if it ended first)
    assert 2 <= kept < epochs

    # No --nproc: the run goes on in the two processes it began with.
    code, events, err = train_events(
        [sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--resume", str(run_id),
         "--events", "json"])
    assert code == 0, err[-3000:]
    assert {e["run_id"] for e in events} == {run_id}
    assert [e["world_size"] for e in events if e["event"] == "started"] == [2]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == list(
        range(kept + 1, epochs + 1))
    assert events[-1]["event"] == "finished"
    runs, rows = runs_and_epochs(db)
    assert [r[:2] for r in runs] == [(1, "finished"), (run_id, "finished")]
    assert [e for r, e in rows if r == run_id] == list(range(1, epochs + 1))
    # Every rank's batches, augmentations and learning rates went on where they stopped.
    resumed = epoch_losses(db, run_id)
    for epoch in range(1, epochs + 1):
        assert resumed[epoch] == pytest.approx(full[epoch], rel=1e-4), epoch
    last = torch.load(events[-1]["last_checkpoint"], weights_only=True)
    assert last["scheduler"]["last_epoch"] == full_ckpt["scheduler"]["last_epoch"]


def test_a_resume_given_nproc_changes_the_processes_not_the_run(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=8)
    proc, run_id = start_long_run(root, db)
    try:
        for line in proc.stdout:
            if parse_events(line)[0]["event"] == "checkpoint":
                proc.send_signal(signal.SIGTERM)
                break
        proc.stdout.read()
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    store = Store(db)
    try:  # a run of 100,000 epochs: shorten it (a test may; a person cannot)
        config = dict(store.run(run_id)["config"], epochs=store.epochs(run_id)[-1]["epoch"] + 1)
        store.conn.execute("UPDATE runs SET config = ? WHERE id = ?",
                           (__import__("json").dumps(config), run_id))
        store.conn.commit()
    finally:
        store.close()
    code, events, err = train_events(
        [sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--resume", str(run_id),
         "--events", "json", "--nproc", "1"])
    assert code == 0, err[-3000:]
    assert [e["world_size"] for e in events if e["event"] == "started"] == [1]
    assert {e["run_id"] for e in events} == {run_id}
    runs, _ = runs_and_epochs(db)
    assert [r[:2] for r in runs] == [(run_id, "finished")]  # no second run row


def test_one_process_through_the_launcher_is_one_run(tmp_path: Path):
    # torchrun with one process: the rank must take the launcher's run, not make another.
    root, db, _ = make_db(tmp_path, per_class=8)
    code, events, err = train_events(train_cmd(root, db, 2, "--nproc", "1"))
    assert code == 0, err[-3000:]
    runs, epochs = runs_and_epochs(db)
    assert [r[:2] for r in runs] == [(1, "finished")]
    assert epochs == [(1, 1), (1, 2)]
    assert {e["run_id"] for e in events} == {1}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_machines(cmd_for_node) -> list[subprocess.Popen]:
    """The same command on "two machines" (two launchers here, one process each)."""
    port = str(free_port())
    return [subprocess.Popen(cmd_for_node(node) + ["--nnodes", "2", "--node-rank", str(node),
                                                   "--master-addr", "127.0.0.1",
                                                   "--master-port", port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for node in (0, 1)]


def test_two_machines_train_one_run_and_resume_it(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=8)
    epochs = 6
    nodes = two_machines(lambda node: train_cmd(root, db, epochs, "--nproc", "1"))
    try:
        run_id = None
        for line in nodes[0].stdout:
            event = parse_events(line)[0]
            run_id = event["run_id"] or run_id
            if event["event"] == "checkpoint":
                nodes[0].send_signal(signal.SIGTERM)  # machine 0's Ctrl+C stops both
                break
        assert nodes[0].wait(timeout=120) == 130, nodes[0].stderr.read()[-3000:]
        assert nodes[1].wait(timeout=120) != 0  # its rank was stopped, not finished
    finally:
        for proc in nodes:
            if proc.poll() is None:
                proc.kill()
    assert runs_and_epochs(db)[0] == [(run_id, "cancelled", *runs_and_epochs(db)[0][0][2:])]
    kept = max(epoch_losses(db, run_id))

    resume = [sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--resume",
              str(run_id), "--events", "json"]
    nodes = two_machines(lambda node: list(resume))
    try:
        out = [proc.communicate(timeout=300) for proc in nodes]
    finally:
        for proc in nodes:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in nodes] == [0, 0], out[0][1][-2000:] + out[1][1][-2000:]
    events = parse_events(out[0][0])
    assert [e["world_size"] for e in events if e["event"] == "started"] == [2]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == list(
        range(kept + 1, epochs + 1))
    runs, rows = runs_and_epochs(db)
    assert [r[:2] for r in runs] == [(run_id, "finished")]
    assert [e for _, e in rows] == list(range(1, epochs + 1))
    # Machine 1 sends no events (rank 0 is on machine 0) and wrote nothing.
    assert [e["event"] for e in parse_events(out[1][0])
            if e["event"] not in ("preparing",)] == []


def test_a_stop_the_ranks_could_not_record_still_cancels_the_run(tmp_path: Path):
    # The launcher was asked to stop, and torchrun ended with rank 0 gone before it wrote
    # "cancelled" (under load): the run is cancelled, not failed, and can be resumed.
    from tui_label.runs.writes import RunWriter, WritePolicy
    from tui_label.trainer.stopper import Stopper

    _, db, _ = make_db(tmp_path, per_class=2)
    store = Store(db)
    try:
        run_id = store.create_run("small-cnn", {}, ["a", "b"])
        store.add_epoch(run_id, 1, train_loss=0.5, val_loss=0.6, seconds=1.0,
                        images_per_sec=10.0, report={"accuracy": 0.5, "macro_f1": 0.5})
        store.update_run(run_id, last_checkpoint="/runs/run-1/last.pt")
        out = io.StringIO()
        emitter = Emitter("json", stream=out)
        stopper = Stopper()
        stopper.requested = "SIGTERM"
        summary = "Root Cause (first observed failure):\n  rank      : 1\n  exitcode  : 130"
        code = launch._after_failure(store, RunWriter(store, emitter, WritePolicy()), emitter,
                                     run_id, 1, summary, stopper)
        run = store.run(run_id)
    finally:
        store.close()
    assert code == 130
    assert run["status"] == "cancelled"
    assert run["reason"] == ("stopped by SIGTERM; last checkpoint /runs/run-1/last.pt: "
                             f"tui-label train --resume {run_id} goes on from there")
    assert parse_events(out.getvalue())[-1]["event"] == "cancelled"
    # Stopped in its first epoch (no finished epoch): cancelled, and no --resume offered.
    store = Store(db)
    try:
        first = store.create_run("small-cnn", {}, ["a", "b"])
        store.update_run(first, last_checkpoint="/runs/run-x/last.pt")
        assert launch._after_failure(store, RunWriter(store, emitter, WritePolicy()), emitter,
                                     first, 1, summary, stopper) == 130
        assert store.run(first)["reason"] == "stopped by SIGTERM"
    finally:
        store.close()
    # Not asked to stop: a rank that ended fails the run.
    store = Store(db)
    try:
        other = store.create_run("small-cnn", {}, ["a", "b"])
        code = launch._after_failure(store, RunWriter(store, emitter, WritePolicy()), emitter,
                                     other, 1, summary, Stopper())
        assert (code, store.run(other)["status"]) == (1, "failed")
        assert store.run(other)["reason"].startswith("rank 1 ended (exit code 130)")
    finally:
        store.close()


class FakeWorld:
    """Rank ``rank`` of ``size`` whose broadcast hands every rank the same value (what the
    process group would): the ranks of ``shares.predict_shares`` run one after the other
    here."""

    def __init__(self, rank: int, size: int, value) -> None:
        self.rank, self.size, self.value = rank, size, value

    @property
    def main(self) -> bool:
        return self.rank == 0

    def broadcast(self, value):
        return self.value


def test_rank_shares_meet_at_rank_0_and_a_failed_share_is_its_reason(tmp_path: Path,
                                                                    monkeypatch):
    from tests.helpers.training import opts_for
    from tui_label.trainer import predict
    from tui_label.trainer.models import build_model
    from tui_label.trainer.stopper import Stopper

    root, db, _ = make_db(tmp_path, per_class=4)
    opts = opts_for(root, db, epochs=1)
    assert trainer.train(opts, Emitter("json", stream=io.StringIO())) == 0
    store = Store(db)
    run = store.latest_run()
    best = Path(run["best_checkpoint"])
    model = build_model("small-cnn", 3, pretrained=False)
    shared = (("abc123", ("2026-01-01T00:00:00", 7)))

    def share_of(rank: int):
        ctx = RunContext(opts, store, NoWrites(), Emitter("json", stream=io.StringIO()),
                         Stopper(), run["id"], root, run["class_names"], {},
                         torch.device("cpu"), FakeWorld(rank, 3, shared))
        assert ctx.best_path == best
        return shares.predict_shares(ctx, model, TrainedData([]))

    try:
        assert share_of(2) is None and share_of(1) is None  # their files wait for rank 0
        (ids, probs, _), as_of = share_of(0)
        assert as_of == ("2026-01-01T00:00:00", 7)
        assert ids.tolist() == [i for i, _ in store.readable_images()]
        alone = predict.predict_images(predict.Predictor(model, torch.device("cpu"), 8), store,
                                       root, opts.size, Emitter("json", stream=io.StringIO()))
        assert np.allclose(alone[1], probs, atol=1e-6)
        assert list(best.parent.glob("predictions-*")) == []  # merged, then removed
        # Rank 1 fails its share: rank 0 gives its reason, without waiting for rank 2.
        real = predict.predict_images

        def fails_for_rank_1(*args, share=(0, 1), **kw):
            if share[0] == 1:
                raise RuntimeError("the disk went away")
            return real(*args, share=share, **kw)

        monkeypatch.setattr(predict, "predict_images", fails_for_rank_1)
        assert share_of(1) is None
        assert share_of(0) == "no predictions: rank 1: RuntimeError: the disk went away"
        assert list(best.parent.glob("predictions-*")) == []
    finally:
        store.close()

"""The training engine on CPU: events, store rows, checkpoints, starting weights, cancel and
failure paths. Tiny colour images (red / green / blue with noise) at 16x16 keep it fast."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from tests.helpers.images import REFUSED
from tests.helpers.training import (
    NAMES,
    decode_images,
    integrity,
    label_where,
    labels_snapshot,
    make_db,
    opts_for,
    parse_events,
    run_row,
    train_cmd,
    train_in_process,
)
from tui_label.config.paths import runs_dir
from tui_label.errors import UsageError
from tui_label.media.decode import Geometry, decode_for_display
from tui_label.runs.emit import Emitter
from tui_label.runs.writes import WritePolicy
from tui_label.store import Store
from tui_label.trainer import checkpoint, models
from tui_label.trainer import data as tdata
from tui_label.trainer import run as trainer

# -- helpers ----------------------------------------------------------------------------------























class Trainer:
    """The real command in a subprocess, read event by event."""

    def __init__(self, cmd: list[str], stderr_path: Path) -> None:
        self.stderr_file = open(stderr_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr_file,
                                     stdin=subprocess.DEVNULL, text=True)
        self.events: list[dict] = []

    def wait_for(self, kinds: set[str], timeout: float = 90) -> dict:
        timer = threading.Timer(timeout, self.proc.kill)  # never hang the suite
        timer.start()
        try:
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    raise AssertionError(f"trainer ended before {kinds}: {self.events}")
                event = json.loads(line)
                self.events.append(event)
                if event["event"] in kinds:
                    return event
        finally:
            timer.cancel()

    def finish(self, timeout: float = 60) -> int:
        out, _ = self.proc.communicate(timeout=timeout)
        self.events += parse_events(out)
        self.stderr_file.close()
        return self.proc.returncode


# -- one real two-epoch run through the command line, shared by several tests ---------------

@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_run")
    root, db, labeled = make_db(folder)
    proc = subprocess.run(train_cmd(root, db, 2), capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    events = parse_events(proc.stdout)
    return {"root": root, "db": db, "labeled": labeled, "events": events,
            "run_id": events[0]["run_id"], "stderr": proc.stderr}


def test_event_order_and_run_id(cli_run):
    events = cli_run["events"]
    kinds = [e["event"] for e in events]
    run_id = cli_run["run_id"]
    assert isinstance(run_id, int)
    # The run exists before any event: every event (decoding progress included) carries its id.
    assert all(e["run_id"] == run_id for e in events), events
    assert all(isinstance(e["time"], float) for e in events)
    # Decoding progress comes first (the train split, then the validation split), then
    # "started" with the split sizes, which are only known once decoding is done.
    first_other = next(k for k, kind in enumerate(kinds) if kind != "preparing")
    assert first_other >= 2 and kinds[first_other] == "started"
    assert kinds.count("started") == 1
    assert kinds[-1] == "finished"
    after = kinds[first_other + 1:]
    assert "preparing" not in after and "warning" not in after
    # step+ epoch checkpoint, twice, then the predictions (progress, then the summary), then
    # finished: the run is finished once its predictions are stored
    body = [k for k in after if k not in ("step", "predicting")]
    assert body == ["epoch", "checkpoint", "epoch", "checkpoint", "predicted", "finished"]
    predicted = kinds.index("predicted")
    assert kinds[predicted - 1] == "predicting"
    assert all(k == "predicting" for k in kinds[kinds.index("predicting"):predicted])
    epoch_events = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epoch_events] == [1, 2]
    # Each epoch's steps come before its epoch event; the last step of an epoch is always sent.
    current, last_step = 1, None
    for e in events[first_other + 1:]:
        if e["event"] == "step":
            assert e["epoch"] == current and e["epochs"] == 2
            last_step = e
        elif e["event"] == "epoch":
            assert last_step is not None and last_step["epoch"] == current
            assert last_step["step"] == last_step["steps"]
        elif e["event"] == "checkpoint":
            current, last_step = current + 1, None
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert [c["epoch"] for c in checkpoints] == [1, 2]
    assert checkpoints[0]["best"] is True  # the first epoch is always the best so far


def test_started_event_and_epoch_metrics(cli_run):
    events = cli_run["events"]
    started = next(e for e in events if e["event"] == "started")
    assert started["classes"] == NAMES
    assert started["device"] == "cpu" and started["model"] == "small-cnn"
    assert started["epochs"] == 2 and started["image_size"] == 16
    assert started["num_train"] + started["num_val"] == cli_run["labeled"]
    assert started["num_val"] > 0 and started["num_train"] > started["num_val"]
    num_val = started["num_val"]
    for e in (e for e in events if e["event"] == "epoch"):
        assert {"accuracy", "macro_f1", "per_class", "confusion", "train_loss",
                "val_loss"} <= set(e)
        assert [c["name"] for c in e["per_class"]] == NAMES
        for c in e["per_class"]:
            assert set(c) == {"name", "precision", "recall", "f1", "support"}
            assert 0 <= c["precision"] <= 1 and 0 <= c["recall"] <= 1 and 0 <= c["f1"] <= 1
        confusion = e["confusion"]
        assert len(confusion) == 3 and all(len(row) == 3 for row in confusion)
        assert sum(map(sum, confusion)) == num_val
        assert [sum(row) for row in confusion] == [c["support"] for c in e["per_class"]]
        assert e["accuracy"] == pytest.approx(sum(confusion[k][k] for k in range(3)) / num_val)
        assert 0 <= e["macro_f1"] <= 1
    finished = events[-1]
    assert finished["best_accuracy"] == max(e["accuracy"] for e in events if e["event"] == "epoch")


def test_store_rows_after_a_run(cli_run):
    db, run_id = cli_run["db"], cli_run["run_id"]
    store = Store(db)
    try:
        run = store.run(run_id)
        assert run["status"] == "finished" and run["reason"] is None
        assert run["finished_at"] and run["device"] == "cpu" and run["model"] == "small-cnn"
        assert run["class_names"] == NAMES
        assert run["config"]["epochs"] == 2 and run["config"]["image_size"] == 16
        assert run["num_train"] + run["num_val"] == cli_run["labeled"]
        assert Path(run["best_checkpoint"]).is_file()
        assert Path(run["last_checkpoint"]).is_file()
        assert Path(run["best_checkpoint"]).parent == runs_dir(db) / f"run-{run_id}"
        epochs = store.epochs(run_id)
        assert [e["epoch"] for e in epochs] == [1, 2]
        for row in epochs:
            assert row["accuracy"] == row["report"]["accuracy"]
            assert row["macro_f1"] == row["report"]["macro_f1"]
            assert [c["name"] for c in row["report"]["per_class"]] == NAMES
            assert sum(map(sum, row["report"]["confusion"])) == run["num_val"]
            assert row["train_loss"] > 0 and row["val_loss"] > 0 and row["seconds"] > 0
        assert run["best_accuracy"] == max(e["accuracy"] for e in epochs)
        # Every labeled image has exactly one split; the sizes are the run's.
        splits = dict(store.conn.execute("SELECT image_id, split FROM splits"))
        labeled = {it.image_id for it in store.training_items()}
        assert set(splits) == labeled
        assert sum(v == "val" for v in splits.values()) == run["num_val"]
        assert sum(v == "train" for v in splits.values()) == run["num_train"]
    finally:
        store.close()


def test_checkpoint_reloads_and_predicts_the_same(cli_run):
    db, run_id = cli_run["db"], cli_run["run_id"]
    run = run_row(db, run_id)
    store = Store(db)
    try:
        items = store.training_items()
        splits = dict(store.conn.execute("SELECT image_id, split FROM splits"))
    finally:
        store.close()
    index_of = {name: k for k, name in enumerate(NAMES)}
    images, kept = decode_images([cli_run["root"] / it.path for it in items], 16,
                                 cli_run["db"].parent / "other.db")
    assert len(kept) == len(items) and images.dtype == torch.uint8
    truth = torch.tensor([index_of[it.path.split("/")[0]] for it in items])

    model_a, ckpt = checkpoint.load_checkpoint(Path(run["best_checkpoint"]))
    model_b, _ = checkpoint.load_checkpoint(Path(run["best_checkpoint"]))
    assert not model_a.training
    assert ckpt["class_names"] == NAMES and ckpt["config"]["model"] == "small-cnn"
    probs_a = checkpoint.class_probabilities(model_a, images)
    probs_b = checkpoint.class_probabilities(model_b, images)
    assert torch.equal(probs_a, probs_b)
    assert probs_a.shape == (len(items), 3)
    assert torch.allclose(probs_a.sum(1), torch.ones(len(items)), atol=1e-5)
    # The checkpoint is the model that was evaluated: its validation accuracy comes back.
    is_val = torch.tensor([splits[it.image_id] == "val" for it in items])
    predicted = probs_a.argmax(1)
    val_acc = (predicted[is_val] == truth[is_val]).float().mean().item()
    assert abs(val_acc - ckpt["metrics"]["accuracy"]) <= 1 / is_val.sum().item() + 1e-9
    assert ckpt["metrics"]["accuracy"] == run["best_accuracy"]


def test_weights_file_continues_from_a_checkpoint(cli_run, tmp_path):
    """Run B starts from run A's best weights: its first epoch is better than A's was."""
    # A copy of A's database, so this run does not add rows the other tests read.
    db_b = tmp_path / "b.db"
    src, dst = sqlite3.connect(cli_run["db"]), sqlite3.connect(db_b)
    src.backup(dst)
    src.close()
    dst.close()
    a_first = next(e for e in cli_run["events"] if e["event"] == "epoch" and e["epoch"] == 1)
    best_a = Path(run_row(cli_run["db"], cli_run["run_id"])["best_checkpoint"])
    code, events = train_in_process(opts_for(cli_run["root"], db_b, epochs=1, weights=best_a))
    assert code == 0, events
    b_first = next(e for e in events if e["event"] == "epoch")
    assert b_first["val_loss"] < a_first["val_loss"]
    assert events[-1]["event"] == "finished"


# -- in-process runs ------------------------------------------------------------------------

def test_train_loss_falls(tmp_path):
    root, db, _ = make_db(tmp_path)
    code, events = train_in_process(opts_for(root, db, epochs=5))
    assert code == 0, events
    losses = [e["train_loss"] for e in events if e["event"] == "epoch"]
    assert len(losses) == 5
    assert losses[-1] < losses[0]


def test_a_small_set_is_passed_over_several_times_an_epoch(tmp_path, monkeypatch):
    """63 labels at batch 64 were one step an epoch, ten in a run: far too few to learn."""
    from tui_label.trainer import data as tdata

    assert tdata.epoch_repeats(63, 64) == 11  # 693 images an epoch: 11 steps
    assert tdata.epoch_repeats(640, 64) == 1 and tdata.epoch_repeats(5000, 64) == 1
    root, db, _ = make_db(tmp_path, per_class=6)
    seen: list[torch.Tensor] = []
    real_augment = tdata.augment
    monkeypatch.setattr(tdata, "augment",
                        lambda x, **kw: (seen.append(x), real_augment(x, **kw))[1])
    code, events = train_in_process(opts_for(root, db, epochs=1, batch_size=8))
    assert code == 0, events
    started = next(e for e in events if e["event"] == "started")
    n = started["num_train"]
    repeats = tdata.epoch_repeats(n, 8)
    assert repeats > 1
    steps = [e for e in events if e["event"] == "step"]
    assert steps[-1]["steps"] == -(-n * repeats // 8) >= tdata.MIN_STEPS_PER_EPOCH
    assert sum(len(x) for x in seen) == n * repeats  # every image, ``repeats`` times


def test_a_batch_larger_than_the_training_set_is_the_set(tmp_path, monkeypatch):
    """--batch-size 100000 on about a hundred images drew 100,000 images a step: an epoch of
    a few images took minutes (and a huge one ran out of memory)."""
    from tui_label.trainer import data as tdata

    root, db, _ = make_db(tmp_path, per_class=6)
    sizes: list[int] = []
    real_augment = tdata.augment
    monkeypatch.setattr(tdata, "augment",
                        lambda x, **kw: (sizes.append(len(x)), real_augment(x, **kw))[1])
    code, events = train_in_process(opts_for(root, db, epochs=1, batch_size=50_000))
    assert code == 0, events
    n = next(e for e in events if e["event"] == "started")["num_train"]
    assert any(e["event"] == "warning" and e["message"] == f"--batch-size 50000 is more than "
               f"the {n} training images: batches of {n}" for e in events)
    assert max(sizes) == n
    assert sum(sizes) == n * tdata.epoch_repeats(n, n)


def test_a_class_with_one_label_trains_with_a_warning(tmp_path):
    """One label of a class no longer blocks training (it did, in the panel, after 50 labels
    of the digits): the image is trained on, the warning names the class."""
    root, db, _ = make_db(tmp_path, per_class=6,
                          keep=lambda p: not p.startswith("blue/") or p == "blue/000.png")
    code, events = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0, events
    warning = next(e["message"] for e in events if e["event"] == "warning")
    assert "single label" in warning and "'blue'" in warning
    store = Store(db)
    blue = store.conn.execute(
        "SELECT s.split FROM splits s JOIN images i ON i.id = s.image_id "
        "WHERE i.path = 'blue/000.png'").fetchone()
    store.close()
    assert blue == ("train",)
    started = next(e for e in events if e["event"] == "started")
    epoch = next(e for e in events if e["event"] == "epoch")
    assert next(c for c in epoch["per_class"] if c["name"] == "blue")["support"] == 0
    assert started["num_val"] > 0


def test_splits_stay_put_when_labels_are_added(tmp_path):
    root, db, first = make_db(tmp_path, keep=lambda path: int(path[-7:-4]) < 10)
    assert first == 30
    code, _ = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0
    store = Store(db)
    before = dict(store.conn.execute("SELECT image_id, split FROM splits"))
    assert len(before) == 30
    assert label_where(store) == 18  # the remaining six of each class
    store.close()
    code, _ = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0
    store = Store(db)
    after = dict(store.conn.execute("SELECT image_id, split FROM splits"))
    runs = [store.run(k) for k in (1, 2)]
    store.close()
    assert len(after) == 48
    assert {k: after[k] for k in before} == before
    assert runs[1]["num_train"] + runs[1]["num_val"] == 48
    assert runs[1]["num_val"] >= runs[0]["num_val"]


def test_same_seed_gives_the_same_weights(tmp_path):
    """``--seed`` makes a run reproducible: the initial weights included."""
    root, db, _ = make_db(tmp_path)
    states = []
    for _ in range(2):
        code, events = train_in_process(opts_for(root, db, epochs=1, seed=3))
        assert code == 0
        ckpt = torch.load(events[-1]["last_checkpoint"], weights_only=True)
        states.append(ckpt["model"])
    for key, tensor in states[0].items():
        assert torch.allclose(tensor.float(), states[1][key].float(), atol=1e-5), (
            f"{key} differs between two runs with --seed 3 (initial weights not seeded?)")


def test_freeze_backbone_only_head_trains(tmp_path, monkeypatch):
    small = models.build_model("small-cnn", 3, pretrained=False, freeze_backbone=True)
    assert {n for n, p in small.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    tv = models.build_model("shufflenet_v2_x0_5", 3, pretrained=False, freeze_backbone=True)
    assert {n for n, p in tv.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    assert tv.fc.out_features == 3
    unfrozen = models.build_model("small-cnn", 3, pretrained=False)
    assert all(p.requires_grad for p in unfrozen.parameters())

    # Through the engine: backbone parameters come out of training unchanged, the head not.
    built = {}

    def capture(*args, **kwargs):
        model = models.build_model(*args, **kwargs)
        built["initial"] = {k: v.detach().clone() for k, v in model.named_parameters()}
        return model

    monkeypatch.setattr(trainer, "build_model", capture)
    root, db, _ = make_db(tmp_path, per_class=8)
    code, events = train_in_process(opts_for(root, db, epochs=1, freeze_backbone=True))
    assert code == 0, events
    trained = torch.load(events[-1]["last_checkpoint"], weights_only=True)["model"]
    for name, initial in built["initial"].items():
        if name.startswith("fc."):
            assert not torch.equal(trained[name], initial), name
        else:
            assert torch.equal(trained[name], initial), name


# -- pretrained weights from torch's cache ----------------------------------------------------

PRETRAINED = "shufflenet_v2_x0_5"  # small, with a Linear head (fc)


def no_download(*args, **kwargs):
    raise urllib.error.URLError("network is unreachable (test)")


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    assert Path(torch.hub.get_dir()) == home / "hub"  # read at call time
    return home


def cache_file(home: Path, name: str) -> Path:
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return home / "hub" / "checkpoints" / Path(url).name


def test_pretrained_weights_come_from_the_cache(torch_home):
    state = torchvision.models.get_model(PRETRAINED, weights=None).state_dict()
    state["conv1.0.weight"] = torch.full_like(state["conv1.0.weight"], 0.125)
    target = cache_file(torch_home, PRETRAINED)
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    warnings: list[str] = []
    model = models.build_model(PRETRAINED, 3, pretrained=True, warn=warnings.append)
    assert torch.all(model.conv1[0].weight == 0.125)
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 3
    assert not warnings
    # pretrained=None ("when available") finds them too.
    model = models.build_model(PRETRAINED, 3, pretrained=None, warn=warnings.append)
    assert torch.all(model.conv1[0].weight == 0.125) and not warnings
    # pretrained=False ignores them.
    model = models.build_model(PRETRAINED, 3, pretrained=False)
    assert not torch.all(model.conv1[0].weight == 0.125)


def test_pretrained_missing_is_a_clear_error_or_a_warning(torch_home):
    cache = cache_file(torch_home, PRETRAINED)
    with pytest.raises(UsageError) as info:
        models.build_model(PRETRAINED, 3, pretrained=True)
    message = str(info.value)
    assert str(cache) in message and "--no-pretrained" in message
    assert "\n" not in message
    warnings: list[str] = []
    model = models.build_model(PRETRAINED, 3, pretrained=None, warn=warnings.append)
    assert model.fc.out_features == 3
    assert len(warnings) == 1 and "random weights" in warnings[0] and str(cache) in warnings[0]


def test_model_without_linear_head_is_a_usage_error():
    with pytest.raises(UsageError, match="no linear classification head"):
        models.build_model("squeezenet1_0", 3, pretrained=False)


def test_unknown_model_suggests_close_names():
    with pytest.raises(UsageError, match=r"unknown model 'resnet1800' \(did you mean .*resnet18"):
        models.build_model("resnet1800", 3, pretrained=False)


# -- cancel and failure ---------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_cancels_the_run(tmp_path, sig):
    root, db, _ = make_db(tmp_path, per_class=10)
    labels = labels_snapshot(db)
    trainer = Trainer(train_cmd(root, db, 200), tmp_path / "stderr.txt")
    trainer.wait_for({"step", "epoch"})
    trainer.proc.send_signal(sig)
    code = trainer.finish()
    assert code == 130, (tmp_path / "stderr.txt").read_text()
    last = trainer.events[-1]
    assert last["event"] == "cancelled"
    assert sig.name in last["reason"]
    run = run_row(db, last["run_id"])
    assert run["status"] == "cancelled" and sig.name in run["reason"]
    assert run["finished_at"]
    assert Path(run["last_checkpoint"]).is_file()
    assert Path(run["last_checkpoint"]).name == "last.pt"
    assert labels_snapshot(db) == labels
    assert integrity(db) == "ok"


def assert_failed_cleanly(db: Path, labels: list[dict], code: int, events: list[dict]) -> dict:
    assert code == 1
    assert events[-1]["event"] == "failed" and events[-1]["reason"]
    run = run_row(db, events[-1]["run_id"])
    assert run["status"] == "failed" and run["reason"] == events[-1]["reason"]
    assert run["finished_at"]
    assert labels_snapshot(db) == labels
    assert integrity(db) == "ok"
    return run


class Boom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x):
        raise RuntimeError("boom")


class NaNModel(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return torch.full((x.shape[0], self.num_classes), float("nan")) * self.w


def test_exception_in_training_is_a_failed_run(tmp_path, monkeypatch):
    root, db, _ = make_db(tmp_path, per_class=6)
    labels = labels_snapshot(db)
    monkeypatch.setattr(trainer, "build_model", lambda *a, **k: Boom())
    code, events = train_in_process(opts_for(root, db))
    run = assert_failed_cleanly(db, labels, code, events)
    assert "boom" in run["reason"]


def test_nan_loss_is_a_failed_run(tmp_path, monkeypatch):
    root, db, _ = make_db(tmp_path, per_class=6)
    labels = labels_snapshot(db)
    monkeypatch.setattr(trainer, "build_model", lambda name, n, **k: NaNModel(n))
    code, events = train_in_process(opts_for(root, db))
    run = assert_failed_cleanly(db, labels, code, events)
    assert "nan" in run["reason"].lower() and "--lr" in run["reason"]
    assert not [e for e in events if e["event"] == "epoch"]


def test_killed_trainer_is_reaped_as_failed(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=10)
    labels = labels_snapshot(db)
    trainer = Trainer(train_cmd(root, db, 200), tmp_path / "stderr.txt")
    event = trainer.wait_for({"step", "epoch"})
    run_id = event["run_id"]
    trainer.proc.send_signal(signal.SIGKILL)
    assert trainer.finish() == -signal.SIGKILL
    assert run_row(db, run_id)["status"] == "running"  # nobody told the store
    store = Store(db)
    try:
        assert store.reap_dead_runs() == [run_id]
        run = store.run(run_id)
        assert store.reap_dead_runs() == []
    finally:
        store.close()
    assert run["status"] == "failed" and "killed" in run["reason"] and run["finished_at"]
    assert labels_snapshot(db) == labels
    assert integrity(db) == "ok"


def test_reaping_on_the_way_in_or_out_waits_for_no_lock(tmp_path):
    """The labeler, its panel and the trainer reap dead runs best effort: a database locked
    by another writer reaps nothing now (no error), and the next call does."""
    root, db, _ = make_db(tmp_path, per_class=3)
    store = Store(db)
    try:
        run_id = store.create_run("small-cnn", {}, NAMES)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        store.update_run(run_id, pid=gone.pid)
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        assert store.try_reap_dead_runs(50) == []
        assert store.run(run_id)["status"] == "running"
        other.execute("COMMIT")
        other.close()
        assert store.try_reap_dead_runs(50) == [run_id]
        assert store.run(run_id)["status"] == "failed"
    finally:
        store.close()


def test_running_trainer_is_not_reaped(tmp_path):
    """A live trainer (this very process, as far as the store can tell) is left alone."""
    root, db, _ = make_db(tmp_path, per_class=3)
    store = Store(db)
    try:
        run_id = store.create_run("small-cnn", {}, NAMES)
        assert os.getpid() == store.run(run_id)["pid"]
        assert store.reap_dead_runs() == []
        assert store.run(run_id)["status"] == "running"
    finally:
        store.close()


def test_models_with_auxiliary_outputs_give_their_logits():
    from collections import namedtuple

    import torch

    from tui_label.trainer.device import logits_of

    Outputs = namedtuple("Outputs", ["logits", "aux_logits"])
    logits = torch.zeros(2, 3)
    assert logits_of(Outputs(logits, None)) is logits
    assert logits_of(logits) is logits


# -- the decode path: the trainer refuses exactly what the labeler refuses -------------------

@pytest.mark.parametrize("make", REFUSED.values(), ids=REFUSED.keys())
def test_trainer_refuses_what_the_labeler_refuses(tmp_path, monkeypatch, make):
    bad = make(tmp_path, monkeypatch)
    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8), (9, 8, 7)).save(good)
    skipped: list[tuple[int, str]] = []
    pixels, kept = decode_images([good, bad, good], 8, tmp_path / "cache.db",
                                 skipped=lambda i, why: skipped.append((i, why)))
    assert kept == [0, 2] and pixels.shape == (2, 3, 8, 8)
    shown = decode_for_display(bad, Geometry(40, 20))
    assert shown.image is None
    assert skipped == [(1, shown.error)]  # the reason the labeler shows on its placeholder
    from tui_label.media.decode_cache import DecodeCache

    with DecodeCache.open(tmp_path / "cache.db", 8) as cache:  # remembered as unreadable
        assert cache.entries([2])[2][4:] == ("unreadable", shown.error)


def test_unreadable_labeled_image_is_named_in_the_warning(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=6)
    data = (root / "red" / "002.png").read_bytes()
    (root / "red" / "002.png").write_bytes(data[: len(data) // 2])
    code, events = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0, events
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("1 labeled image(s) could not be read")
    assert "red/002.png" in warnings[0] and "truncated" in warnings[0]
    started = next(e for e in events if e["event"] == "started")
    assert started["num_train"] + started["num_val"] == 17


# -- trainer writes: a locked database, NaN validation, checkpoint paths, weights files ------

class LockingEmitter(Emitter):
    """Another connection takes the database's write lock at the first step event (as a
    labeler, a backup or a sqlite3 shell might) and lets it go only once the trainer says it
    is retrying ``release_on`` (never, when that is None)."""

    def __init__(self, db: Path, release_on: str | None) -> None:
        super().__init__("json", stream=io.StringIO())
        self.other = sqlite3.connect(db, isolation_level=None)
        self.release_on = release_on
        self.held = self.released = False

    def emit(self, event: str, **data) -> None:
        super().emit(event, **data)
        if event == "step" and not self.held and not self.released:
            self.other.execute("BEGIN IMMEDIATE")
            self.held = True
        elif (event == "warning" and self.held and self.release_on
              and self.release_on in data["message"]):
            self.release()

    def release(self) -> None:
        if self.held:
            self.other.execute("ROLLBACK")
            self.held, self.released = False, True
        self.other.close()


QUICK_WRITES = WritePolicy(busy_timeout_ms=100, progress_timeout_ms=20, retry_for_s=60)


def test_a_locked_database_skips_progress_and_retries_epoch_writes(tmp_path):
    """A progress write that meets the lock must not fail the run (it did, after 11 of 12
    epochs with a 45 s lock); the epoch's write waits for the lock and gets through."""
    root, db, _ = make_db(tmp_path, per_class=6)
    labels = labels_snapshot(db)
    emitter = LockingEmitter(db, release_on="could not save epoch 1's metrics yet")
    try:
        code, events = train_in_process(opts_for(root, db, epochs=2), QUICK_WRITES, emitter)
    finally:
        emitter.release()
    assert emitter.released, "the lock was never met: the test proves nothing"
    assert code == 0, events
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("locked" in w and "progress is not being saved" in w for w in warnings)
    assert any("locked" in w and "retrying" in w for w in warnings)
    assert events[-1]["event"] == "finished"
    run = run_row(db, events[-1]["run_id"])
    assert run["status"] == "finished"
    store = Store(db)
    try:
        assert [e["epoch"] for e in store.epochs(run["id"])] == [1, 2]
    finally:
        store.close()
    assert run["progress"]["epoch"] == 2  # progress writes resumed once the lock was gone
    assert Path(run["best_checkpoint"]).is_file()
    assert labels_snapshot(db) == labels
    assert integrity(db) == "ok"


def test_a_database_locked_past_the_retry_time_fails_the_run_with_the_reason(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=6)
    labels = labels_snapshot(db)
    emitter = LockingEmitter(db, release_on=None)
    writes = WritePolicy(busy_timeout_ms=50, progress_timeout_ms=20, retry_for_s=0.5)
    try:
        code, events = train_in_process(opts_for(root, db, epochs=2), writes, emitter)
    finally:
        emitter.release()
    assert code == 1
    last = events[-1]
    assert last["event"] == "failed" and "\n" not in last["reason"]
    assert last["reason"].startswith("could not save epoch 1's metrics to the database")
    assert "locked by another process" in last["reason"]
    # The failed status could not be written either: the run is left to be reaped.
    assert run_row(db, last["run_id"])["status"] == "running"
    assert labels_snapshot(db) == labels
    assert integrity(db) == "ok"


class NaNWhenEvaluated(nn.Module):
    """Trains normally; gives NaN logits in eval mode (validation)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.inner = models.SmallCNN(num_classes)

    def forward(self, x):
        out = self.inner(x)
        return out if self.training else out * float("nan")


def test_nan_validation_loss_fails_the_run_and_saves_no_best(tmp_path, monkeypatch):
    root, db, _ = make_db(tmp_path, per_class=6)
    labels = labels_snapshot(db)
    monkeypatch.setattr(trainer, "build_model", lambda name, n, **k: NaNWhenEvaluated(n))
    code, events = train_in_process(opts_for(root, db))
    run = assert_failed_cleanly(db, labels, code, events)
    assert "validation loss became nan in epoch 1" in run["reason"]
    assert "--lr" in run["reason"]
    assert not [e for e in events if e["event"] in ("epoch", "checkpoint")]
    assert run["best_checkpoint"] is None
    assert not (runs_dir(db) / f"run-{run['id']}" / "best.pt").exists()


def test_checkpoint_paths_resolve_from_any_directory(tmp_path, monkeypatch):
    """A relative --db gave checkpoint paths relative to the trainer's working directory."""
    root, db, _ = make_db(tmp_path / "project", per_class=6)
    monkeypatch.chdir(tmp_path / "project")
    code, events = train_in_process(opts_for(Path("data"), Path("labels.db"), epochs=1))
    assert code == 0, events
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = run_row(db, events[-1]["run_id"])
    for key in ("best_checkpoint", "last_checkpoint"):
        path = Path(run[key])
        assert path.is_absolute() and path.is_file(), run[key]
        assert path.parent == runs_dir(db) / f"run-{run['id']}"
    for event in (e for e in events if e["event"] in ("checkpoint", "finished")):
        for key in ("path", "best_checkpoint", "last_checkpoint"):
            if key in event:
                assert Path(event[key]).is_absolute() and Path(event[key]).is_file()


def not_a_checkpoint(folder: Path, kind: str) -> Path:
    path = folder / f"{kind}.pt"
    if kind == "text":
        path.write_text("these are not weights\n")
    elif kind == "csv":  # torch's safe loader called it "Python objects, a whole model?"
        path.write_text("path,label\nimg000.png,cat\n")
    elif kind == "empty":
        path.write_bytes(b"")
    else:  # a real state dict cut in half, as an interrupted copy leaves it
        torch.save(models.SmallCNN(3).state_dict(), path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("kind", ["text", "csv", "truncated", "empty"])
def test_weights_file_that_is_not_a_checkpoint_is_a_clear_error(tmp_path, kind):
    root, db, _ = make_db(tmp_path, per_class=3)
    weights = not_a_checkpoint(tmp_path, kind)
    with pytest.raises(UsageError) as info:
        trainer.train(opts_for(root, db, weights=weights), Emitter("json", stream=io.StringIO()))
    assert str(info.value) == f"--weights {weights} is not a PyTorch checkpoint or state dict"
    store = Store(db)
    try:
        assert store.latest_run() is None  # refused before any run was recorded
    finally:
        store.close()


def test_a_run_whose_trainer_was_killed_is_marked_failed_by_the_next_run(tmp_path):
    """The kernel's out-of-memory kill left it "running" for good for a headless user (only
    the labeler reaped such runs)."""
    root, db, _ = make_db(tmp_path, per_class=3)
    store = Store(db)
    dead = store.create_run("small-cnn", {}, ["a", "b"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that is no process now
    store.update_run(dead, pid=gone.pid)
    store.close()
    code, events = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0, events
    store = Store(db)
    try:
        run = store.run(dead)
        assert run["status"] == "failed" and "killed, or out of memory" in run["reason"]
    finally:
        store.close()


def test_weights_of_another_model_say_that_most_of_it_starts_random(tmp_path):
    path = tmp_path / "small.pt"
    torch.save(models.SmallCNN(3).state_dict(), path)
    warnings: list[str] = []
    model = models.build_model("resnet18", 3, pretrained=False, weights_file=path,
                               warn=warnings.append)
    total = len(model.state_dict())
    assert len(warnings) == 1 and warnings[0].startswith("only ")
    assert f"of resnet18's {total} tensors are in --weights {path}" in warnings[0]
    same: list[str] = []
    models.build_model("small-cnn", 3, pretrained=False, weights_file=path, warn=same.append)
    assert same == []


def test_weights_file_with_a_pickled_model_is_a_clear_error(tmp_path):
    path = tmp_path / "whole-model.pt"
    torch.save(models.SmallCNN(3), path)  # the model object, not its state dict
    with pytest.raises(UsageError) as info:
        models.build_model("small-cnn", 3, pretrained=False, weights_file=path)
    message = str(info.value)
    assert message.startswith(f"--weights {path} holds Python objects") and "\n" not in message
    assert "state_dict()" in message


def test_damaged_cached_pretrained_weights_are_named(torch_home):
    target = cache_file(torch_home, PRETRAINED)
    target.parent.mkdir(parents=True)
    state = torchvision.models.get_model(PRETRAINED, weights=None).state_dict()
    torch.save(state, target)
    target.write_bytes(target.read_bytes()[:1000])  # an interrupted download
    with pytest.raises(UsageError) as info:
        models.build_model(PRETRAINED, 3, pretrained=True)
    message = str(info.value)
    assert "\n" not in message
    assert f"the cached pretrained weights for {PRETRAINED} ({target}) cannot be read" in message
    assert "delete the file" in message and "not in the cache" not in message


def test_run_writer_retries_a_lock_but_not_a_read_only_file():
    from tui_label.runs.writes import RunWriter
    from tui_label.store import StoreWriteError

    emitter = Emitter("json", stream=io.StringIO())
    writer = RunWriter(None, emitter, WritePolicy(retry_for_s=30, max_delay_s=0.01))
    failures = [StoreWriteError("locked", "the database is locked by another process")] * 2

    def flaky(value):
        if failures:
            raise failures.pop()
        return value

    assert writer.must("a row", flaky, 7) == 7 and not failures
    warnings = parse_events(emitter.stream.getvalue())
    assert [w["message"] for w in warnings] == [
        "the database is locked by another process: could not save a row yet; retrying"]
    calls = []

    def read_only():
        calls.append(1)
        raise StoreWriteError("readonly", "the database is read-only")

    with pytest.raises(StoreWriteError) as info:
        writer.must("a row", read_only)
    assert len(calls) == 1 and info.value.kind == "readonly"
    assert str(info.value) == ("could not save a row to the database after 1 try: "
                               "the database is read-only")


def test_an_epochs_images_per_second_counts_every_pass_over_a_small_set(tmp_path):
    # 24 labels at batch 8 are passed over several times an epoch (at least 10 steps): the
    # epoch's rate counts every image trained, as the step events do.
    root, db, _ = make_db(tmp_path, per_class=8)
    code, events = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0
    started = next(e for e in events if e["event"] == "started")
    epoch = next(e for e in events if e["event"] == "epoch")
    repeats = tdata.epoch_repeats(started["num_train"], 8)
    assert repeats > 1
    trained = epoch["images_per_sec"] * epoch["seconds"]
    assert trained == pytest.approx(started["num_train"] * repeats, rel=1e-6)

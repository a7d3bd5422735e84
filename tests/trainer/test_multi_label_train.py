"""Training in multi-label mode on CPU: a sigmoid per class with a binary cross-entropy loss on
multi-hot targets, metrics at a threshold, no single-label predictions at the end. Tiny
images (a colour channel bright per class of the set, with noise) at 16x16 keep it fast."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.queue import queue_of
from tests.helpers.training import (
    make_db,
    opts_for,
    parse_events,
    run_row,
    train_cmd,
    train_in_process,
)
from tui_label.config.settings import ClassSpec
from tui_label.errors import UsageError
from tui_label.media.scan import scan
from tui_label.runs.emit import Emitter, human
from tui_label.runs.events import parse
from tui_label.store import Store
from tui_label.trainer import data as tdata
from tui_label.trainer import fit, plan
from tui_label.trainer import run as trainer
from tui_label.trainer.predict import predict_command

NAMES = ["red", "green", "blue"]
# Every set of the three classes, the empty one included.
SETS = [frozenset(c) for n in range(4) for c in combinations(range(3), n)]


def set_name(classes: frozenset[int]) -> str:
    return "+".join(NAMES[k] for k in sorted(classes)) or "none"


def make_multi_db(folder: Path, per_set: int = 6, size: int = 16) -> tuple[Path, Path]:
    """``root/<set>/NNN.png``: colour channel k is bright when class k is in the set, dark
    otherwise (plus noise); a multi-label database labels each image with its set."""
    rng = np.random.default_rng(0)
    root = folder / "data"
    for classes in SETS:
        (root / set_name(classes)).mkdir(parents=True)
        for i in range(per_set):
            rgb = np.array([200 if k in classes else 40 for k in range(3)])
            pixels = np.clip(rgb + rng.integers(-30, 31, (size, size, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / set_name(classes) / f"{i}.png")
    db = folder / "labels.db"
    store = Store(db, annotator="tester")
    store.set_classes([ClassSpec(name, str(k + 1)) for k, name in enumerate(NAMES)])
    store.sync_images(scan(root))
    store.set_setting("root", str(root))
    store.set_multi_label()
    ids = [c.id for c in store.classes()]
    by_name = {set_name(s): s for s in SETS}
    for item in queue_of(store, "all"):
        store.label_set(item.id, [ids[k] for k in by_name[item.path.split("/")[0]]])
    store.close()
    return root, db


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory):
    """One three-epoch multi-label run, in process, with the losses it computed recorded."""
    folder = tmp_path_factory.mktemp("multi_run")
    root, db = make_multi_db(folder)
    calls = {"bce": [], "ce": 0}
    bce, ce = fit.F.binary_cross_entropy_with_logits, fit.F.cross_entropy

    def spy_bce(logits, target, *args, **kwargs):
        calls["bce"].append((tuple(logits.shape), target.dtype, target.detach().cpu().clone()))
        return bce(logits, target, *args, **kwargs)

    def spy_ce(*args, **kwargs):
        calls["ce"] += 1
        return ce(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fit.F, "binary_cross_entropy_with_logits", spy_bce)
        mp.setattr(fit.F, "cross_entropy", spy_ce)
        code, events = train_in_process(opts_for(root, db, epochs=3, lr=1e-2))
    assert code == 0, events
    return {"root": root, "db": db, "events": events, "calls": calls,
            "run_id": events[0]["run_id"]}


def test_the_loss_is_binary_cross_entropy_on_multi_hot_targets(multi_run):
    calls = multi_run["calls"]
    assert calls["ce"] == 0 and calls["bce"]  # never softmax cross-entropy
    for shape, dtype, target in calls["bce"]:
        assert shape[1] == 3 and target.shape == shape and dtype == torch.float32
        assert set(target.unique().tolist()) <= {0.0, 1.0}
    rows = torch.cat([t for _, _, t in calls["bce"]])
    sums = set(rows.sum(1).tolist())
    assert {0.0, 1.0, 2.0, 3.0} <= sums  # the empty set too, as an all-zero row


def test_targets_are_the_labeled_sets_as_multi_hot_rows(multi_run):
    store = Store(multi_run["db"])
    try:
        items = store.training_items()
        index_of = {c.id: k for k, c in enumerate(store.classes())}
    finally:
        store.close()
    y = plan.targets(items, index_of, multi_label=True)
    assert y.shape == (len(items), 3) and y.dtype == torch.float32
    by_name = {set_name(s): s for s in SETS}
    for row, it in zip(y.tolist(), items, strict=True):
        assert it.class_id is None
        assert {k for k, v in enumerate(row) if v == 1.0} == by_name[it.path.split("/")[0]]


def test_epochs_report_metrics_at_the_threshold_without_a_confusion_matrix(multi_run):
    events = multi_run["events"]
    started = next(e for e in events if e["event"] == "started")
    assert started["config"]["multi_label"] is True and started["config"]["threshold"] == 0.5
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 3
    num_val = started["num_val"]
    for e in epochs:
        assert e["threshold"] == 0.5 and e["confusion"] == []
        assert 0 <= e["micro_f1"] <= 1 and 0 <= e["accuracy"] <= 1
        assert [c["name"] for c in e["per_class"]] == NAMES
        for c in e["per_class"]:
            assert c["tp"] + c["fn"] == c["support"] <= num_val
            assert c["tp"] + c["fp"] <= num_val
        tp = sum(c["tp"] for c in e["per_class"])
        fp = sum(c["fp"] for c in e["per_class"])
        fn = sum(c["fn"] for c in e["per_class"])
        assert e["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    # Each class is held by 4 of the 8 sets: half of the validation images, give or take.
    assert all(c["support"] > 0 for c in epochs[-1]["per_class"])
    # A trivially separable set: the run learns it.
    assert epochs[-1]["micro_f1"] > 0.8
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    line = human(parse(epochs[-1]))
    assert "exact-match accuracy" in line and "at threshold 0.50" in line


def test_the_run_stores_its_mode_and_no_single_label_predictions(multi_run):
    events, run_id = multi_run["events"], multi_run["run_id"]
    assert events[-1]["event"] == "finished"
    assert "predicted" not in [e["event"] for e in events]
    assert any(e["event"] == "warning" and e["message"] == trainer.MULTI_LABEL_NO_PREDICTIONS
               for e in events)
    store = Store(multi_run["db"])
    try:
        run = store.run(run_id)
        assert run["status"] == "finished" and run["reason"] is None
        assert run["config"]["multi_label"] is True
        assert store.predictions(run_id) == {} and store.suspects(run_id) == []
        assert run["predicted_at"] is None
        rows = store.epochs(run_id)
        assert rows[-1]["report"]["threshold"] == 0.5
        last = [e for e in events if e["event"] == "epoch"][-1]
        assert rows[-1]["report"]["micro_f1"] == last["micro_f1"]
    finally:
        store.close()
    with pytest.raises(UsageError, match="multi-label run"):
        predict_command(multi_run["db"], multi_run["root"], run_id, "cpu", 8,
                        Emitter("json", stream=io.StringIO()))


def test_splits_hold_each_first_class_on_both_sides_and_stay_put(multi_run):
    store = Store(multi_run["db"])
    try:
        items = store.training_items()
        first = store.assign_splits(items, 0.2)
        assert store.assign_splits(items, 0.2) == first
        for key in {it.split_key for it in items}:
            assert {first[it.image_id] for it in items if it.split_key == key} == {"train",
                                                                                  "val"}
    finally:
        store.close()


def test_threshold_option_is_used_and_recorded(tmp_path):
    root, db = make_multi_db(tmp_path, per_set=3)
    code, events = train_in_process(opts_for(root, db, epochs=1, threshold=0.3))
    assert code == 0
    epoch = next(e for e in events if e["event"] == "epoch")
    assert epoch["threshold"] == 0.3
    store = Store(db)
    try:
        assert store.run(epoch["run_id"])["config"]["threshold"] == 0.3
    finally:
        store.close()


@pytest.mark.torch
def test_command_line_run_in_a_multi_label_database(tmp_path):
    root, db = make_multi_db(tmp_path, per_set=3)
    proc = subprocess.run(
        [sys.executable, "-m", "tui_label.trainer", str(root), "--db", str(db), "--epochs", "1",
         "--image-size", "16", "--batch-size", "8", "--events", "json", "--device", "cpu",
         "--threshold", "0.4", "--balance", "sampler"],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    events = parse_events(proc.stdout)
    assert next(e for e in events if e["event"] == "epoch")["threshold"] == 0.4
    assert events[-1]["event"] == "finished"


def test_single_label_mode_is_refused_on_a_multi_label_database(tmp_path):
    root, db = make_multi_db(tmp_path, per_set=2)
    with pytest.raises(UsageError, match="multi-label mode"):
        train_in_process(opts_for(root, db, multi_label=False))
    with pytest.raises(UsageError, match="--folds"):
        train_in_process(opts_for(root, db, folds=3))
    store = Store(db)
    try:
        assert store.latest_run() is None  # refused before a run exists
    finally:
        store.close()


def test_too_few_multi_labels_is_a_clear_error(tmp_path):
    root, db = make_multi_db(tmp_path, per_set=1)
    store = Store(db)
    try:
        for item in queue_of(store, "all"):
            store.label_set(item.id, [])  # every image: none of the classes
    finally:
        store.close()
    with pytest.raises(UsageError, match="too few labels to train"):
        train_in_process(opts_for(root, db))


def test_a_single_label_database_trains_as_before(tmp_path, monkeypatch):
    root, db, _ = make_db(tmp_path, per_class=6)
    used = []
    ce = fit.F.cross_entropy
    monkeypatch.setattr(fit.F, "cross_entropy",
                        lambda *a, **k: used.append("ce") or ce(*a, **k))
    monkeypatch.setattr(fit.F, "binary_cross_entropy_with_logits",
                        lambda *a, **k: pytest.fail("BCE in a single-label run"))
    code, events = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0 and used
    epoch = next(e for e in events if e["event"] == "epoch")
    assert "threshold" not in epoch and "micro_f1" not in epoch
    assert len(epoch["confusion"]) == 3
    assert "predicted" in [e["event"] for e in events]
    assert next(e for e in events if e["event"] == "started")["config"]["multi_label"] is False


def test_balanced_order_weighs_an_image_as_its_rarest_class():
    # class 0 in 3 images, class 1 in 1 image (shared with class 0), and one empty image
    y = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert tdata.balanced_order(y, 2, torch.Generator().manual_seed(0)).shape == (4,)
    counts = torch.bincount(
        torch.cat([tdata.balanced_order(y, 2, torch.Generator().manual_seed(s))
                   for s in range(300)]), minlength=4).float()
    share = counts / counts.sum()
    # weights 1/3, 1/3, 1 (its rarest class: 1), 1 (the only empty image): 1/8, 1/8, 3/8, 3/8
    assert share.tolist() == pytest.approx([1 / 8, 1 / 8, 3 / 8, 3 / 8], abs=0.03)


def val_memberships(db: Path) -> list[int]:
    """How many validation images hold each class (by the stored split)."""
    store = Store(db)
    try:
        splits = dict(store.conn.execute("SELECT image_id, split FROM splits"))
        ids = [c.id for c in store.classes()]
        return [sum(1 for it in store.training_items()
                    if splits[it.image_id] == "val" and c in it.classes) for c in ids]
    finally:
        store.close()


@pytest.mark.torch
def test_two_gloo_ranks_train_a_multi_label_run(tmp_path):
    root, db = make_multi_db(tmp_path, per_set=4)
    done = subprocess.run(train_cmd(root, db, 2, "--nproc", "2"), capture_output=True,
                          text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    events = parse_events(done.stdout)
    assert next(e for e in events if e["event"] == "started")["world_size"] == 2
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    # The probabilities of both ranks' validation images were gathered: every class's
    # TP + FN is the number of validation images that hold it.
    expected = val_memberships(db)
    for e in epochs:
        assert e["threshold"] == 0.5 and e["confusion"] == []
        assert [c["tp"] + c["fn"] for c in e["per_class"]] == expected
    assert events[-1]["event"] == "finished"


def test_a_multi_label_run_resumes_in_its_mode_with_its_threshold(tmp_path):
    from tests.helpers.resume import cancelled_run, resume

    root, db = make_multi_db(tmp_path, per_set=3)
    run_id, stopped = cancelled_run(root, db, after=1, threshold=0.4)
    assert [e["threshold"] for e in stopped if e["event"] == "epoch"] == [0.4]
    code, events = resume(db, run_id)
    assert code == 0, events
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [2, 3, 4]
    assert all(e["threshold"] == 0.4 and e["confusion"] == [] for e in epochs)


def test_a_single_label_run_cannot_resume_once_the_database_is_multi_label(tmp_path):
    from tests.helpers.resume import cancelled_run, resume

    root, db, _ = make_db(tmp_path, per_class=6)
    run_id, _ = cancelled_run(root, db, after=1)
    store = Store(db)
    try:
        store.set_multi_label()
        # A run of a tui-label from before multi-label mode: no such key in its config.
        config = store.run(run_id)["config"]
        del config["multi_label"]
        store.conn.execute("UPDATE runs SET config = ? WHERE id = ?",
                           (json.dumps(config), run_id))
        store.conn.commit()
    finally:
        store.close()
    with pytest.raises(UsageError, match=f"run {run_id} was single-label"):
        resume(db, run_id)
    assert run_row(db, run_id)["status"] == "cancelled"

"""Predictions after a run and with ``tui-label predict``: the arrays, the store's rows, the
embeddings from the hook, out-of-sample probabilities (linear head and ``--folds``), and every
bad input as one line that changes nothing."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.cli import assert_usage_error, db_fingerprint
from tests.helpers.data import sample_store
from tests.helpers.queue import queue_of
from tests.helpers.training import (
    NAMES,
    decode_images,
    labels_snapshot,
    make_db,
    opts_for,
    parse_events,
)
from tui_label.assist import live_head
from tui_label.assist.predictions import PredictionSet, predictions_dir
from tui_label.cli import main as cli
from tui_label.config.paths import runs_dir
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.store import Store
from tui_label.trainer import checkpoint, fit, folds, oof, predict
from tui_label.trainer import data as tdata
from tui_label.trainer import run as trainer
from tui_label.trainer.data import TrainedData
from tui_label.trainer.stopper import Stopper

DIGITS = [str(d) for d in range(10)]


def train(opts: TrainOptions, stopper: Stopper | None = None,
          emitter: Emitter | None = None) -> tuple[int, list[dict]]:
    emitter = emitter or Emitter("json", stream=io.StringIO())
    code = trainer.train(opts, emitter, stopper)
    return code, parse_events(emitter.stream.getvalue())


def call(capsys, *args: str) -> tuple[int, str, str]:
    """``tui-label ARGS`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


# -- one run on the sample digits (6 labels per digit), shared ------------------------------


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    db = folder / "digits.db"
    store = sample_store(db, per_class=6)
    root = Path(store.get_setting("root"))
    store.close()
    code, events = train(opts_for(root, db, epochs=2, batch_size=16))
    assert code == 0, events
    return {"db": db, "root": root, "events": events, "run_id": events[0]["run_id"]}


def copy_run(digits: dict, folder: Path) -> Path:
    """A copy of the digits database with its own copy of the run's files (the checkpoint
    paths in the copy point at the copies: a test may damage them)."""
    db = folder / "copy.db"
    src, dst = sqlite3.connect(digits["db"]), sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    shutil.copytree(runs_dir(digits["db"]), runs_dir(db))
    run_dir = runs_dir(db).resolve() / f"run-{digits['run_id']}"
    store = Store(db)
    store.update_run(digits["run_id"], best_checkpoint=str(run_dir / "best.pt"),
                     last_checkpoint=str(run_dir / "last.pt"))
    store.close()
    return db


def image_ids(db: Path) -> list[int]:
    store = Store(db)
    try:
        return sorted(i.id for i in queue_of(store, "all"))
    finally:
        store.close()


def test_a_run_ends_with_predictions_stored(digits):
    events, run_id = digits["events"], digits["run_id"]
    predicted = next(e for e in events if e["event"] == "predicted")
    assert predicted["run_id"] == run_id
    assert predicted["images"] == 500 and predicted["oof"] == 60
    assert predicted["seconds"] > 0
    progress = [e for e in events if e["event"] == "predicting"]
    assert progress[-1]["done"] == progress[-1]["total"] == 500
    assert [e["done"] for e in progress] == sorted(e["done"] for e in progress)
    store = Store(digits["db"])
    try:
        run = store.run(run_id)
        assert run["status"] == "finished" and run["reason"] is None
        assert run["predicted_at"] and run["predicted_at"] <= run["finished_at"]
        assert store.latest_predicted_run()["id"] == run_id
        assert predicted["suspects"] == len(store.suspects(run_id, open_only=False))
    finally:
        store.close()


def test_prediction_arrays_cover_every_image(digits):
    folder = predictions_dir(runs_dir(digits["db"]) / f"run-{digits['run_id']}")
    result = PredictionSet.load(folder)
    assert result.ids.tolist() == image_ids(digits["db"])
    assert result.class_names == DIGITS
    assert result.probs.shape == (500, 10) and result.probs.dtype == np.float32
    np.testing.assert_allclose(result.probs.sum(1), 1, atol=1e-5)
    assert result.embeddings.shape == (500, 128) and result.embeddings.dtype == np.float16
    store = Store(digits["db"])
    labeled = sorted(it.image_id for it in store.training_items())
    store.close()
    assert len(labeled) == 60 and result.oof_ids.tolist() == labeled
    assert result.oof_probs.shape == (60, 10)
    np.testing.assert_allclose(result.oof_probs.sum(1), 1, atol=1e-5)


def test_embeddings_and_probabilities_come_from_the_best_checkpoint(digits):
    store = Store(digits["db"])
    run = store.run(digits["run_id"])
    paths = {i.id: i.path for i in queue_of(store, "all")}
    store.close()
    model = checkpoint.load_run_model(run).model
    assert isinstance(model, torch.nn.Module) and not model.training
    result = PredictionSet.load(predictions_dir(runs_dir(digits["db"]) / f"run-{run['id']}"))
    some = result.ids[::50].tolist()
    images, kept = decode_images([digits["root"] / paths[i] for i in some], 16,
                                 digits["db"].parent / "other.db")
    assert len(kept) == len(some)
    with torch.no_grad():
        features = model.features(tdata.normalize(images))  # SmallCNN: what feeds model.fc
        probs = model.fc(features).softmax(1)
    rows = result.rows_of(np.asarray(some))
    np.testing.assert_allclose(result.embeddings[rows].astype(np.float32), features.numpy(),
                               rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(result.probs[rows], probs.numpy(), atol=1e-4)
    best = torch.load(run["best_checkpoint"], weights_only=True)["model"]
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())


def test_store_rows_agree_with_the_arrays(digits):
    run_id = digits["run_id"]
    result = PredictionSet.load(predictions_dir(runs_dir(digits["db"]) / f"run-{run_id}"))
    store = Store(digits["db"])
    try:
        class_id = {c.name: c.id for c in store.classes()}
        column_ids = [class_id[name] for name in DIGITS]
        rows = store.predictions(run_id)
        assert sorted(rows) == result.ids.tolist()
        for k, image_id in enumerate(result.ids.tolist()):
            row, p = rows[image_id], result.probs[k]
            assert row["class_id"] == column_ids[int(p.argmax())]
            assert row["probability"] == pytest.approx(float(p.max()), abs=1e-6)
            assert len(row["top_k"]) == 5
            assert [q for _, q in row["top_k"]] == sorted((q for _, q in row["top_k"]),
                                                          reverse=True)
        oof = store.predictions(run_id, "oof")
        assert sorted(oof) == result.oof_ids.tolist()
        labels = {it.image_id: it.class_id for it in store.training_items()}
        for s in store.suspects(run_id, open_only=False):
            assert s["given_class"] == labels[s["image_id"]]
            assert s["predicted_class"] != s["given_class"]
            k = int(np.searchsorted(result.oof_ids, s["image_id"]))
            given_column = column_ids.index(s["given_class"])
            assert s["given_probability"] == pytest.approx(
                float(result.oof_probs[k, given_column]), abs=1e-6)
    finally:
        store.close()


# -- the engine's end of a run ---------------------------------------------------------------


def test_labeled_images_are_decoded_once(tmp_path, monkeypatch):
    """The run's decoded images are reused: every image is decoded exactly once, and a second
    run decodes none (the decode cache)."""
    from tui_label.media import decode_cache

    decoded: list[str] = []
    original = decode_cache.images.decode_square

    def spy(path, size):
        decoded.append(str(path))
        return original(path, size)

    monkeypatch.setattr(decode_cache.images, "decode_square", spy)
    root, db, labeled = make_db(tmp_path, per_class=6, keep=lambda p: p.endswith(
        ("000.png", "001.png", "002.png")))
    code, events = train(opts_for(root, db, epochs=1))
    assert code == 0, events
    assert labeled == 9
    every = [str(p) for p in root.rglob("*.png")]
    assert len(every) == 18 and sorted(decoded) == sorted(every)  # each image once
    assert next(e for e in events if e["event"] == "predicted")["images"] == 18
    decoded.clear()
    code, events = train(opts_for(root, db, epochs=1))
    assert code == 0, events
    assert decoded == []  # the second run and its predictions read the cache
    assert next(e for e in events if e["event"] == "predicted")["images"] == 18


def test_a_failed_prediction_keeps_the_finished_run(tmp_path, monkeypatch):
    root, db, _ = make_db(tmp_path, per_class=4)
    labels = labels_snapshot(db)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(predict, "predict_run", broken)
    code, events = train(opts_for(root, db, epochs=1))
    assert code == 0
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "finished" and "predicted" not in kinds
    warning = [e for e in events if e["event"] == "warning"][-1]
    assert warning["message"] == "no predictions: RuntimeError: the disk is on fire"
    store = Store(db)
    run = store.run(events[0]["run_id"])
    assert store.latest_predicted_run() is None
    store.close()
    assert run["status"] == "finished" and run["reason"] == warning["message"]
    assert Path(run["best_checkpoint"]).is_file()
    assert labels_snapshot(db) == labels


def test_a_stop_while_predicting_keeps_the_finished_run(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=4)
    stopper = Stopper()

    class StopWhenPredicting(Emitter):
        def emit(self, event, **data):
            super().emit(event, **data)
            if event == "predicting":
                stopper.requested = "SIGTERM"

    code, events = train(opts_for(root, db, epochs=1), stopper,
                         StopWhenPredicting("json", stream=io.StringIO()))
    assert code == 0
    assert events[-1]["event"] == "finished"
    assert "predicted" not in [e["event"] for e in events]
    store = Store(db)
    run = store.run(events[0]["run_id"])
    store.close()
    assert run["status"] == "finished" and run["reason"] == "no predictions: stopped by SIGTERM"


# -- out-of-sample probabilities -------------------------------------------------------------


def clusters(rng, per_class: list[int], dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian clusters, one per class, ``per_class[c]`` points each."""
    centres = np.eye(len(per_class), dim) * 10
    x = np.concatenate([centres[c] + rng.normal(0, 0.5, (n, dim))
                        for c, n in enumerate(per_class)])
    y = np.concatenate([np.full(n, c) for c, n in enumerate(per_class)])
    return x.astype(np.float16), y


def test_linear_oof_spreads_columns_and_skips_single_label_classes():
    rng = np.random.default_rng(0)
    x, y = clusters(rng, [10, 10, 1, 10, 0])
    y[3] = 1  # a wrong label inside class 0's cluster
    keep, probs, reason = oof.linear_oof(x, y, num_columns=5)
    assert reason is None
    assert keep.tolist() == [True] * 20 + [False] + [True] * 10  # class 2 has one label
    assert probs.shape == (30, 5)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert np.all(probs[:, 2] == 0) and np.all(probs[:, 4] == 0)
    # Out of sample: the wrong label is not learned back; the image's own cluster wins.
    assert probs[3].argmax() == 0 and probs[3, 1] < 0.5
    right = np.flatnonzero(keep)
    clean = [k for k, i in enumerate(right) if i != 3]
    assert np.all(probs[clean].argmax(1) == y[right][clean])


def test_linear_oof_needs_two_classes_with_two_labels():
    x, y = clusters(np.random.default_rng(1), [5, 1])
    keep, probs, reason = oof.linear_oof(x, y, num_columns=2)
    assert not keep.any() and probs.shape == (0, 2)
    assert "at least 2 classes need 2 labels" in reason


def test_linear_oof_uses_five_folds_or_fewer(monkeypatch):
    seen = []

    def spy(embeddings, labels, num_classes=None, folds=5, seed=0):
        seen.append(live_head.oof_folds(labels, folds))
        return np.full((len(labels), num_classes), 1 / num_classes, np.float32)

    monkeypatch.setattr(live_head, "fit_predict_oof", spy)
    rng = np.random.default_rng(2)
    oof.linear_oof(*clusters(rng, [9, 9]), num_columns=2)
    oof.linear_oof(*clusters(rng, [9, 3]), num_columns=2)
    oof.linear_oof(*clusters(rng, [9, 2]), num_columns=2)
    assert seen == [5, 3, 2]


def test_assign_folds_is_stratified_and_stable_per_image():
    columns = np.array([0] * 7 + [1] * 3 + [2] * 1)
    keys = [f"img{i:02d}.png" for i in range(11)]
    folds = oof.assign_folds(columns, keys, 3)
    for c in (0, 1):
        counts = np.bincount(folds[columns == c], minlength=3)
        assert counts.max() - counts.min() <= 1  # each class spread over the folds
    assert np.bincount(folds, minlength=3).tolist() in ([4, 4, 3], [4, 3, 4], [3, 4, 4])
    order = np.random.default_rng(3).permutation(11)
    shuffled = oof.assign_folds(columns[order], [keys[i] for i in order], 3)
    assert {keys[i]: f for i, f in zip(order, shuffled.tolist(), strict=True)} == dict(
        zip(keys, folds.tolist(), strict=True))


def test_fine_tuned_folds_never_see_the_labels_they_judge(tmp_path, monkeypatch):
    """Image k is filled with the value k: what each fold trains on and predicts is read back
    from the pixels."""
    n = 12
    images = torch.arange(n, dtype=torch.uint8).mul(20).view(n, 1, 1, 1).expand(n, 3, 16, 16)
    labels = torch.tensor([k % 3 for k in range(n)])

    class Item:
        def __init__(self, k):
            self.image_id, self.path = 100 + k, f"{k}.png"

    items = [Item(k) for k in range(n)]
    data = TrainedData([(images[:8].clone(), labels[:8], items[:8]),
                               (images[8:].clone(), labels[8:], items[8:])])
    trained_on, held_out = [], []
    original_epoch = fit.Fit.train_one_epoch
    original_call = predict.Predictor.__call__

    def epoch_spy(self, epoch, x, y, *args):
        trained_on.append(set((x[:, 0, 0, 0] // 20).tolist()))
        return original_epoch(self, epoch, x, y, *args)

    def predict_spy(self, x, *args):
        held_out.append(set((x[:, 0, 0, 0] // 20).tolist()))
        return original_call(self, x, *args)

    monkeypatch.setattr(fit.Fit, "train_one_epoch", epoch_spy)
    monkeypatch.setattr(predict.Predictor, "__call__", predict_spy)
    opts = opts_for(tmp_path, tmp_path / "x.db", epochs=1, batch_size=4, folds=3,
                    image_size=16)
    ids, probs = folds.fine_tune_folds(opts, Emitter("json", io.StringIO()), NAMES,
                                        torch.device("cpu"), data, lambda epoch=0: None)
    assert len(trained_on) == len(held_out) == 3
    for train_set, held in zip(trained_on, held_out, strict=True):
        assert not train_set & held and train_set | held == set(range(n))
    assert sorted(k for held in held_out for k in held) == list(range(n))
    assert sorted(ids.tolist()) == [100 + k for k in range(n)]
    assert probs.shape == (n, 3)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


def test_folds_run_gives_out_of_sample_probabilities_of_every_label(tmp_path, monkeypatch):
    def no_linear_head(*args, **kwargs):
        raise AssertionError("--folds must not use the linear head")

    monkeypatch.setattr(live_head, "fit_predict_oof", no_linear_head)
    root, db, labeled = make_db(tmp_path, per_class=4)
    code, events = train(opts_for(root, db, epochs=1, folds=2))
    assert code == 0, events
    folds = [e for e in events if e["event"] == "fold"]
    assert [(f["fold"], f["folds"]) for f in folds] == [(1, 2), (2, 2)]
    assert all(f["num_train"] + f["num_held_out"] == labeled for f in folds)
    assert sum(f["num_held_out"] for f in folds) == labeled
    predicted = next(e for e in events if e["event"] == "predicted")
    assert predicted["oof"] == labeled
    result = PredictionSet.load(predictions_dir(runs_dir(db) / f"run-{events[0]['run_id']}"))
    assert len(result.oof_ids) == labeled and result.oof_probs.shape == (labeled, 3)
    store = Store(db)
    assert store.run(events[0]["run_id"])["config"]["folds"] == 2
    store.close()


def test_folds_one_is_a_usage_error(tmp_path, capsys):
    root, db, _ = make_db(tmp_path, per_class=3)
    before = db_fingerprint(db)
    code, _, err = call(capsys, "train", "--db", str(db), "--folds", "1")
    assert_usage_error(code, err, "--folds must be at least 2")
    assert db_fingerprint(db) == before


# -- tui-label predict -----------------------------------------------------------------------


def test_predict_command_stores_predictions_again(digits, tmp_path, capsys):
    db = copy_run(digits, tmp_path)
    store = Store(db)
    with store.conn:  # forget the run's predictions: the command must make them again
        store.conn.execute("DELETE FROM predictions")
        store.conn.execute("DELETE FROM suspects")
        store.conn.execute("UPDATE runs SET predicted_at = NULL")
    store.close()
    code, out, err = call(capsys, "predict", "--db", str(db), "--device", "cpu")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "predicted" and events[-1]["images"] == 500
    assert all(e["run_id"] == digits["run_id"] for e in events)
    assert "predicted 500 images" in err
    store = Store(db)
    try:
        assert store.latest_predicted_run()["id"] == digits["run_id"]
        assert len(store.predictions(digits["run_id"])) == 500
        assert len(store.predictions(digits["run_id"], "oof")) == 60
    finally:
        store.close()
    result = PredictionSet.load(predictions_dir(runs_dir(db) / f"run-{digits['run_id']}"))
    assert len(result.ids) == 500


def test_predict_falls_back_to_the_last_checkpoint(digits, tmp_path, capsys):
    db = copy_run(digits, tmp_path)
    store = Store(db)
    run = store.run(digits["run_id"])
    store.close()
    Path(run["best_checkpoint"]).unlink()
    code, _, err = call(capsys, "predict", "--db", str(db), "--device", "cpu",
                        "--run", str(digits["run_id"]))
    assert code == 0, err


def test_predict_with_changed_classes_maps_the_known_ones(digits, tmp_path, capsys):
    db = copy_run(digits, tmp_path)
    store = Store(db)
    with store.conn:  # "0" renamed: the model's "0" is gone, today's "zero" is unknown to it
        store.conn.execute("UPDATE classes SET name = 'zero' WHERE name = '0'")
    labels = store.current_labels()
    store.close()
    code, out, err = call(capsys, "predict", "--db", str(db), "--device", "cpu")
    assert code == 0, err
    warning = next(json.loads(line) for line in out.splitlines()
                   if json.loads(line)["event"] == "warning")
    assert warning["message"] == (f"run {digits['run_id']} is stale: 1 class(es) are unknown "
                                  "to the model (zero): they get no predictions; 1 of its "
                                  "classes no longer exist (0)")
    store = Store(db)
    try:
        zero = next(c.id for c in store.classes() if c.name == "zero")
        rows = store.predictions(digits["run_id"])
        assert len(rows) == 500
        assert all(c != zero for row in rows.values() for c, _ in row["top_k"])
        assert all(c is not None for row in rows.values() for c, _ in row["top_k"])
        result = PredictionSet.load(predictions_dir(runs_dir(db) / f"run-{digits['run_id']}"))
        top_is_gone = result.probs.argmax(1) == DIGITS.index("0")
        assert [rows[i]["class_id"] is None for i in result.ids.tolist()] == top_is_gone.tolist()
        assert all(s["given_class"] != zero for s in store.suspects(digits["run_id"]))
        assert store.current_labels() == labels
    finally:
        store.close()


def make_bad(kind: str, digits: dict, folder: Path) -> tuple[Path, list[str]]:
    """A database (and arguments after ``predict``) for one kind of bad input."""
    if kind == "no_run":
        db = folder / "fresh.db"
        sample_store(db, per_class=2).close()
        return db, []
    db = copy_run(digits, folder)
    store = Store(db)
    run = store.run(digits["run_id"])
    store.close()
    best, last = Path(run["best_checkpoint"]), Path(run["last_checkpoint"])
    args: list[str] = []
    if kind == "missing_run":
        args = ["--run", "99"]
    elif kind == "unfinished_run":
        store = Store(db)
        other = store.create_run("small-cnn", {}, DIGITS)
        store.update_run(other, status="failed", reason="boom")
        store.close()
        args = ["--run", str(other)]
    elif kind == "deleted_checkpoint":
        best.unlink()
        last.unlink()
    elif kind == "damaged_checkpoint":
        data = best.read_bytes()
        best.write_bytes(data[:len(data) // 2])
    elif kind == "text_checkpoint":
        best.write_text("hello")
    elif kind == "state_dict_checkpoint":  # weights alone, not a tui-label checkpoint
        torch.save(torch.load(best, weights_only=True)["model"], best)
    elif kind == "other_classes_checkpoint":  # another run's checkpoint put in its place
        ckpt = torch.load(best, weights_only=True)
        torch.save({**ckpt, "class_names": list("abcdefghij")}, best)
    elif kind == "misshapen_checkpoint":
        ckpt = torch.load(best, weights_only=True)
        ckpt["model"]["fc.weight"] = torch.zeros(3, 3)
        torch.save(ckpt, best)
    elif kind == "missing_folder":
        args = [str(folder / "nowhere")]
    elif kind == "zero_batch":
        args = ["--batch-size", "0"]
    return db, args


BAD = [
    ("no_run", "no finished training run to predict with"),
    ("missing_run", "there is no run 99"),
    ("unfinished_run", "is failed, not finished"),
    ("deleted_checkpoint", "checkpoint is gone"),
    ("damaged_checkpoint", "is not a tui-label checkpoint of this run"),
    ("text_checkpoint", "is not a tui-label checkpoint of this run"),
    ("state_dict_checkpoint", "is not a tui-label checkpoint of this run"),
    ("other_classes_checkpoint", "is not a tui-label checkpoint of this run"),
    ("misshapen_checkpoint", "is not a tui-label checkpoint of this run"),
    ("missing_folder", "folder not found"),
    ("zero_batch", "--batch-size must be at least 1"),
]


@pytest.mark.parametrize("kind, fragment", BAD, ids=[k for k, _ in BAD])
def test_predict_bad_input_is_one_line_and_changes_nothing(digits, tmp_path, capsys, kind,
                                                           fragment):
    db, args = make_bad(kind, digits, tmp_path)
    before = db_fingerprint(db)
    predictions_before = sorted(p.name for p in runs_dir(db).rglob("*") if p.is_file()) \
        if runs_dir(db).exists() else []
    code, out, err = call(capsys, "predict", "--db", str(db), "--device", "cpu", *args)
    assert_usage_error(code, err, fragment)
    assert db_fingerprint(db) == before
    after = sorted(p.name for p in runs_dir(db).rglob("*") if p.is_file()) \
        if runs_dir(db).exists() else []
    assert after == predictions_before

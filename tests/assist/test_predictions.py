"""``tui_label.assist.predictions`` (numpy only) and the store's prediction and suspect tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.queue import queue_of
from tui_label.assist.predictions import PredictionSet, predictions_dir, top_k_rows
from tui_label.core.uncertainty import entropy, least_confidence, margin
from tui_label.store import Store

# -- the arrays beside a run ----------------------------------------------------------------


def a_set(oof: bool = True) -> PredictionSet:
    """Three images given out of id order, two classes, 4-wide embeddings."""
    ids = np.array([30, 10, 20], dtype=np.int64)
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]], dtype=np.float32)
    emb = np.arange(12, dtype=np.float32).reshape(3, 4)
    if not oof:
        return PredictionSet(ids, probs, ["cat", "dog"], emb)
    return PredictionSet(ids, probs, ["cat", "dog"], emb, np.array([20, 10], dtype=np.int64),
                         np.array([[0.3, 0.7], [0.6, 0.4]], dtype=np.float32))


def test_save_and_load_round_trip_sorted_by_id(tmp_path: Path):
    folder = predictions_dir(tmp_path / "run-1")
    assert folder == tmp_path / "run-1" / "predictions"
    a_set().save(folder)
    loaded = PredictionSet.load(folder)
    assert loaded.ids.tolist() == [10, 20, 30]
    assert loaded.probs.dtype == np.float32 and loaded.embeddings.dtype == np.float16
    np.testing.assert_allclose(loaded.probs, [[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]])
    np.testing.assert_array_equal(loaded.embeddings[0], [4, 5, 6, 7])  # image 10's row
    assert loaded.class_names == ["cat", "dog"]
    assert loaded.oof_ids.tolist() == [10, 20]
    np.testing.assert_allclose(loaded.oof_probs, [[0.6, 0.4], [0.3, 0.7]])
    assert isinstance(loaded.probs, np.memmap)  # memory-mapped, not read into memory
    assert not list(folder.glob(".*tmp*"))  # no temporary file left behind


def test_optional_arrays_are_none_when_absent(tmp_path: Path):
    a_set(oof=False).save(tmp_path)
    loaded = PredictionSet.load(tmp_path)
    assert loaded.oof_ids is None and loaded.oof_probs is None
    assert loaded.embeddings.shape == (3, 4)


def test_rows_of_marks_missing_ids(tmp_path: Path):
    a_set().save(tmp_path)
    loaded = PredictionSet.load(tmp_path)
    assert loaded.rows_of(np.array([30, 11, 10, 99, 0, 20])).tolist() == [2, -1, 0, -1, -1, 1]
    assert loaded.rows_of(np.array([], dtype=np.int64)).tolist() == []
    empty = PredictionSet(np.zeros(0, np.int64), np.zeros((0, 2), np.float32), ["a", "b"])
    assert empty.rows_of(np.array([1, 2])).tolist() == [-1, -1]


@pytest.mark.parametrize("damage", ["short_probs", "wrong_classes", "short_embeddings",
                                    "oof_without_ids", "oof_width", "garbage_ids",
                                    "truncated_probs", "bad_classes_json"])
def test_damaged_files_raise_value_error(tmp_path: Path, damage: str):
    a_set().save(tmp_path)
    if damage == "short_probs":
        np.save(tmp_path / "probs.npy", np.zeros((2, 2), np.float32))
    elif damage == "wrong_classes":
        (tmp_path / "classes.json").write_text(json.dumps(["cat", "dog", "bird"]))
    elif damage == "short_embeddings":
        np.save(tmp_path / "embeddings.npy", np.zeros((1, 4), np.float16))
    elif damage == "oof_without_ids":
        (tmp_path / "oof_ids.npy").unlink()
    elif damage == "oof_width":
        np.save(tmp_path / "oof_probs.npy", np.zeros((2, 3), np.float32))
    elif damage == "garbage_ids":
        (tmp_path / "ids.npy").write_bytes(b"not an array at all")
    elif damage == "truncated_probs":
        data = (tmp_path / "probs.npy").read_bytes()
        (tmp_path / "probs.npy").write_bytes(data[:len(data) - 8])
    elif damage == "bad_classes_json":
        (tmp_path / "classes.json").write_text("[\"cat\", ")
    with pytest.raises(ValueError):
        PredictionSet.load(tmp_path)


def test_missing_files_raise_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        PredictionSet.load(tmp_path / "nothing")


# -- uncertainty on hand-made arrays ---------------------------------------------------------

PROBS = np.array([
    [1.0, 0.0, 0.0],  # certain
    [0.5, 0.5, 0.0],  # a tie between two
    [1 / 3, 1 / 3, 1 / 3],  # no idea at all
    [0.2, 0.7, 0.1],
])


def test_least_confidence():
    np.testing.assert_allclose(least_confidence(PROBS), [0.0, 0.5, 2 / 3, 0.3])


def test_margin():
    np.testing.assert_allclose(margin(PROBS), [1.0, 0.0, 0.0, 0.5], atol=1e-12)
    assert margin(np.array([[1.0], [1.0]])).tolist() == [1.0, 1.0]  # one class: no doubt


def test_entropy_in_nats():
    expected = [0.0, np.log(2), np.log(3),
                -(0.2 * np.log(0.2) + 0.7 * np.log(0.7) + 0.1 * np.log(0.1))]
    np.testing.assert_allclose(entropy(PROBS), expected, atol=1e-9)


def test_top_k_rows_map_columns_to_class_ids():
    probs = np.array([[0.1, 0.6, 0.3], [0.7, 0.1, 0.2]])
    rows = top_k_rows(np.array([5, 6]), probs, [11, None, 13], k=2)
    # Column 1's class is gone: it is still the top (class_id None) but left out of top_k.
    assert rows[0]["image_id"] == 5 and rows[0]["class_id"] is None
    assert rows[0]["probability"] == pytest.approx(0.6)
    assert rows[0]["top_k"] == [(13, pytest.approx(0.3))]
    assert rows[0]["margin"] == pytest.approx(0.3)
    assert rows[1]["class_id"] == 11 and [c for c, _ in rows[1]["top_k"]] == [11, 13]


# -- the store's tables ----------------------------------------------------------------------


@pytest.fixture
def model_store(store: Store) -> tuple[Store, int, list[int], dict[str, int]]:
    """The conftest store (12 images; cat, dog, bird) with a run and four labels."""
    ids = [i.id for i in queue_of(store, "all")]
    classes = {c.name: c.id for c in store.classes()}
    for image_id, name in zip(ids[:4], ["cat", "cat", "dog", "bird"], strict=True):
        store.label(image_id, classes[name])
    run_id = store.create_run("small-cnn", {}, ["cat", "dog", "bird"])
    store.update_run(run_id, status="finished")
    return store, run_id, ids, classes


def prediction_row(image_id: int, class_id: int | None, p: float) -> dict:
    return {"image_id": image_id, "class_id": class_id, "probability": p, "margin": p / 2,
            "entropy": 1 - p, "top_k": [[class_id, p]] if class_id else []}


def test_predictions_round_trip_and_replace(model_store):
    store, run_id, ids, classes = model_store
    assert store.latest_predicted_run() is None
    store.save_predictions(run_id, "oof", [prediction_row(ids[0], classes["dog"], 0.6)])
    assert store.latest_predicted_run() is None  # only the model's rows make it "predicted"
    store.save_predictions(run_id, "model", [prediction_row(ids[0], classes["cat"], 0.9),
                                             prediction_row(ids[1], None, 0.5)])
    got = store.predictions(run_id)
    assert set(got) == {ids[0], ids[1]}
    assert got[ids[0]] == {"class_id": classes["cat"], "probability": 0.9, "margin": 0.45,
                           "entropy": pytest.approx(0.1), "top_k": [(classes["cat"], 0.9)]}
    assert got[ids[1]]["class_id"] is None and got[ids[1]]["top_k"] == []
    assert store.predictions(run_id, "oof")[ids[0]]["class_id"] == classes["dog"]
    assert store.latest_predicted_run()["id"] == run_id
    # Saving again replaces that kind's rows only.
    store.save_predictions(run_id, "model", [prediction_row(ids[2], classes["dog"], 0.7)])
    assert set(store.predictions(run_id)) == {ids[2]}
    assert set(store.predictions(run_id, "oof")) == {ids[0]}


def predicted_long_ago(store: Store, run_id: int) -> None:
    """Move the labels so far and the predictions into the past (timestamps have
    milliseconds: labels written next are then strictly newer, never in the same one)."""
    with store.conn:
        store.conn.execute("UPDATE label_events SET created_at = '2000-01-01T00:00:00.000Z'")
    store.update_run(run_id, predicted_at="2001-01-01T00:00:00.000Z")


def suspect_row(image_id: int, rank: int, given: int, predicted: int) -> dict:
    return {"image_id": image_id, "rank": rank, "given_class": given,
            "predicted_class": predicted, "probability": 0.9, "given_probability": 0.05}


def test_suspects_are_ranked_and_open_only_drops_relabeled_and_reviewed(model_store):
    store, run_id, ids, classes = model_store
    cat, dog, bird = classes["cat"], classes["dog"], classes["bird"]
    store.save_suspects(run_id, [suspect_row(ids[2], 1, dog, cat),
                                 suspect_row(ids[0], 0, cat, dog),
                                 suspect_row(ids[3], 2, bird, cat),
                                 suspect_row(ids[1], 3, cat, bird)])
    store.save_predictions(run_id, "model", [])
    predicted_long_ago(store, run_id)
    assert [s["image_id"] for s in store.suspects(run_id)] == [ids[0], ids[2], ids[3], ids[1]]
    first = store.suspects(run_id)[0]
    assert first["path"] == "img000.png" and first["given_class"] == cat
    assert first["predicted_class"] == dog and first["given_probability"] == 0.05
    store.label(ids[2], cat)  # relabeled after the predictions
    store.add_event(ids[0], "label", cat, source="review")  # the label confirmed
    open_ids = [s["image_id"] for s in store.suspects(run_id)]
    assert open_ids == [ids[3], ids[1]]
    everything = [s["image_id"] for s in store.suspects(run_id, open_only=False)]
    assert everything == [ids[0], ids[2], ids[3], ids[1]]
    # Saving again replaces the run's suspects.
    store.save_suspects(run_id, [suspect_row(ids[1], 0, cat, bird)])
    assert [s["image_id"] for s in store.suspects(run_id, open_only=False)] == [ids[1]]


def test_labels_before_the_predictions_keep_a_suspect_open(model_store):
    store, run_id, ids, classes = model_store
    store.save_suspects(run_id, [suspect_row(ids[3], 0, classes["bird"], classes["cat"])])
    store.save_predictions(run_id, "model", [])
    predicted_long_ago(store, run_id)
    # The label that made it a suspect is older than the predictions: still open.
    assert [s["image_id"] for s in store.suspects(run_id)] == [ids[3]]
    assert store.labels_since(store.run(run_id)) == 0
    store.label(ids[5], classes["dog"])
    assert store.labels_since(store.run(run_id)) == 1


def test_suspects_of_missing_files_are_left_out(model_store, dataset: Path):
    store, run_id, ids, classes = model_store
    store.save_suspects(run_id, [suspect_row(ids[0], 0, classes["cat"], classes["dog"])])
    store.save_predictions(run_id, "model", [])
    from tui_label.media.scan import scan

    (dataset / "img000.png").unlink()
    store.sync_images(scan(dataset))
    assert store.suspects(run_id) == []



def test_a_label_in_the_same_millisecond_as_the_predictions_is_newer(model_store, monkeypatch):
    """Regression (CI, Python 3.13): a label written in the millisecond the predictions were
    stored counted as older than the model. "Newer" is by event id, which never ties."""
    store, run_id, ids, classes = model_store
    at = "2026-01-01T00:00:00.000Z"  # predictions and labels written in the same instant
    monkeypatch.setattr("tui_label.store.predictions.now_iso", lambda: at)
    monkeypatch.setattr("tui_label.store.labels.now_iso", lambda: at)
    store.save_suspects(run_id, [suspect_row(ids[3], 0, classes["bird"], classes["cat"])])
    store.save_predictions(run_id, "model", [])
    assert store.labels_since(store.run(run_id)) == 0
    store.label(ids[3], classes["dog"])  # the same instant, after the predictions
    assert store.labels_since(store.run(run_id)) == 1
    assert store.suspects(run_id) == []  # relabeled since: no longer open


def test_old_predicted_runs_get_their_event_watermark_from_the_times(tmp_path: Path):
    """A database predicted before schema 5 counts the labels after its ``predicted_at``."""
    import sqlite3

    from sqlite_utils import Database

    from tui_label.store.migrations import MIGRATIONS, migrations

    db = tmp_path / "v4.db"
    conn = sqlite3.connect(db)
    conn.isolation_level = None
    migrations.apply(Database(conn), stop_before=MIGRATIONS[4].__name__)
    conn.execute("PRAGMA user_version = 4")
    conn.execute("INSERT INTO images (path, size, mtime) VALUES ('a.png', 1, 1)")
    conn.execute("INSERT INTO classes (name, hotkey, position) VALUES ('cat', '1', 0)")
    for when in ("2026-01-01T00:00:00.000Z", "2026-01-03T00:00:00.000Z"):
        conn.execute("INSERT INTO label_events (image_id, action, class_id, annotator, "
                     "created_at) VALUES (1, 'label', 1, 'x', ?)", (when,))
    conn.execute("INSERT INTO runs (created_at, status, model, config, class_names, "
                 "predicted_at) VALUES ('2026', 'finished', 'm', '{}', '[\"cat\"]', "
                 "'2026-01-02T00:00:00.000Z')")
    conn.close()
    store = Store(db)
    try:
        run = store.run(1)
        assert run["predicted_through"] == 1
        assert store.labels_since(run) == 1
    finally:
        store.close()

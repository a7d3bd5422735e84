"""``tui-label suspects`` and ``tui-label export --with-predictions`` on stored predictions
(written here by hand: no torch needed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.helpers.cli import assert_usage_error, db_fingerprint
from tests.helpers.data import make_images
from tests.helpers.queue import queue_of
from tui_label.cli import main as cli
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store


def call(capsys, *args: str) -> tuple[int, str, str]:
    """``tui-label ARGS`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def predicted_db(tmp_path: Path, *, predicted: bool = True) -> tuple[Path, dict, list[int]]:
    """Four images: =cat.png labeled '=evil' (a hostile class name), two labeled cat, one
    unlabeled; a finished run with predictions and three suspects (when ``predicted``)."""
    data = tmp_path / "data"
    make_images(data, 3)
    (data / "img000.png").rename(data / "=cat.png")
    db = tmp_path / "l.db"
    store = Store(db, annotator="ann")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("=evil", "2")])
    store.sync_images(scan(data))
    classes = {c.name: c.id for c in store.classes()}
    ids = {i.path: i.id for i in queue_of(store, "all")}
    store.label(ids["=cat.png"], classes["=evil"])
    store.label(ids["img001.png"], classes["cat"])
    store.label(ids["img002.png"], classes["cat"])
    run_id = store.create_run("small-cnn", {}, ["cat", "=evil"])
    store.update_run(run_id, status="finished")
    if predicted:
        def row(path: str, name: str, p: float) -> dict:
            return {"image_id": ids[path], "class_id": classes[name], "probability": p,
                    "margin": 0.1, "entropy": 0.5, "top_k": [[classes[name], p]]}

        store.save_predictions(run_id, "model", [row("=cat.png", "cat", 0.875),
                                                 row("img001.png", "=evil", 0.6),
                                                 row("img002.png", "cat", 0.99)])

        def suspect(path: str, rank: int, given: str, predicted: str) -> dict:
            return {"image_id": ids[path], "rank": rank, "given_class": classes[given],
                    "predicted_class": classes[predicted], "probability": 0.8125,
                    "given_probability": 0.1875}

        store.save_suspects(run_id, [suspect("img001.png", 1, "cat", "=evil"),
                                     suspect("=cat.png", 0, "=evil", "cat"),
                                     suspect("img002.png", 2, "cat", "=evil")])
        with store.conn:  # labels strictly older than the predictions (millisecond times)
            store.conn.execute("UPDATE label_events SET created_at = '2000-01-01T00:00:00.000Z'")
        store.update_run(run_id, predicted_at="2001-01-01T00:00:00.000Z")
    store.close()
    return db, classes, [ids["=cat.png"], ids["img001.png"], ids["img002.png"]]


def test_suspects_csv_most_doubtful_first_with_cells_neutralised(tmp_path, capsys):
    db, _, _ = predicted_db(tmp_path)
    before = db_fingerprint(db)
    code, out, err = call(capsys, "suspects", "--db", str(db))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["path", "label", "predicted", "probability", "label_probability",
                             "rank"]
    assert [(r["path"], r["label"], r["predicted"]) for r in rows] == [
        ("'=cat.png", "'=evil", "cat"), ("img001.png", "cat", "'=evil"),
        ("img002.png", "cat", "'=evil")]
    assert rows[0]["probability"] == "0.8125" and rows[0]["label_probability"] == "0.1875"
    assert db_fingerprint(db) == before  # reading writes nothing


def test_suspects_jsonl_limit_and_open_only(tmp_path, capsys):
    db, classes, ids = predicted_db(tmp_path)
    store = Store(db)
    store.label(ids[0], classes["cat"])  # relabeled after the predictions: no longer open
    store.close()
    code, out, err = call(capsys, "suspects", "--db", str(db), "--format", "jsonl",
                          "--limit", "1")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows == [{"path": "img001.png", "label": "cat", "predicted": "=evil",
                     "probability": 0.8125, "label_probability": 0.1875, "rank": 1}]


@pytest.mark.parametrize("args, fragment", [
    (["--limit", "0"], "--limit must be at least 1"),
    (["--run", "7"], "there is no run 7"),
])
def test_suspects_bad_input(tmp_path, capsys, args, fragment):
    db, _, _ = predicted_db(tmp_path)
    before = db_fingerprint(db)
    code, _, err = call(capsys, "suspects", "--db", str(db), *args)
    assert_usage_error(code, err, fragment)
    assert db_fingerprint(db) == before


def test_suspects_without_predictions_is_one_line(tmp_path, capsys):
    db, _, _ = predicted_db(tmp_path, predicted=False)
    before = db_fingerprint(db)
    code, _, err = call(capsys, "suspects", "--db", str(db))
    assert_usage_error(code, err, "no predictions yet")
    code, _, err = call(capsys, "suspects", "--db", str(db), "--run", "1")
    assert_usage_error(code, err, "run 1 has no predictions")
    assert db_fingerprint(db) == before


def test_suspects_of_a_cancelled_run_do_not_send_you_to_predict(tmp_path, capsys):
    """It said "run tui-label predict --run 1", which refuses a run that did not finish."""
    db, _, _ = predicted_db(tmp_path, predicted=False)
    store = Store(db)
    store.update_run(1, status="cancelled")
    store.close()
    code, _, err = call(capsys, "suspects", "--db", str(db), "--run", "1")
    assert_usage_error(code, err, "run 1 has no predictions: it is cancelled, not finished")
    assert "tui-label predict" not in err


def test_export_with_predictions_adds_class_and_confidence(tmp_path, capsys):
    db, _, _ = predicted_db(tmp_path)
    code, out, err = call(capsys, "export", "--db", str(db), "--with-predictions")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["path", "label", "annotator", "labeled_at", "split",
                             "predicted", "confidence"]
    assert [(r["path"], r["label"], r["predicted"], r["confidence"]) for r in rows] == [
        ("'=cat.png", "'=evil", "cat", "0.875"), ("img001.png", "cat", "'=evil", "0.6"),
        ("img002.png", "cat", "cat", "0.99")]
    code, out, err = call(capsys, "export", "--db", str(db), "--with-predictions",
                          "--format", "jsonl")
    assert code == 0, err
    first = json.loads(out.splitlines()[0])
    assert first["path"] == "=cat.png" and first["predicted"] == "cat"
    assert first["confidence"] == 0.875


def test_export_without_the_flag_is_unchanged(tmp_path, capsys):
    db, _, _ = predicted_db(tmp_path)
    code, out, _ = call(capsys, "export", "--db", str(db))
    assert code == 0
    assert out.splitlines()[0] == "path,label,annotator,labeled_at,split"


def test_export_with_predictions_but_none_is_one_line(tmp_path, capsys):
    db, _, _ = predicted_db(tmp_path, predicted=False)
    before = db_fingerprint(db)
    out_file = tmp_path / "out.csv"
    code, _, err = call(capsys, "export", "--db", str(db), "--with-predictions", "-o",
                        str(out_file))
    assert_usage_error(code, err, "no predictions yet")
    assert not out_file.exists()
    assert db_fingerprint(db) == before

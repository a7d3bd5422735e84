"""``tui-label clusters`` through the real command, on a run written by hand."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.data import make_images
from tests.helpers.fake_model import save_run
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store


def project(tmp_path: Path, *, embeddings: bool = True) -> Path:
    """12 images: the first 8 near one point and predicted cat, the last 4 near another and
    predicted dog; img0 labeled cat."""
    root = tmp_path / "data"
    make_images(root, 12)
    db = tmp_path / "labels.db"
    with Store(db) as store:
        store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2")])
        store.sync_images(scan(root))
        paths = sorted(store.image_ids(), key=store.image_ids().get)
        store.label(store.image_ids()[paths[0]], store.classes()[0].id)
        emb = {p: ([1.0, 0.01 * k] if k < 8 else [0.01 * k, 1.0]) for k, p in enumerate(paths)}
        save_run(store, {p: ([0.9, 0.1] if k < 8 else [0.2, 0.8]) for k, p in enumerate(paths)},
                 embeddings=emb if embeddings else None)
    return db


def test_the_clusters_of_the_latest_run_as_text_csv_and_json(tmp_path: Path):
    db = project(tmp_path)
    code, out, err = run_cli("clusters", "--db", str(db), "--clusters", "2", "--examples", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "run 1: 2 clusters of 12 images"
    assert lines[1] == "cluster 1: 8 images, 100% predicted cat, 1 labeled (1 as cat)"
    assert lines[3] == "cluster 2: 4 images, 100% predicted dog, none labeled"
    code, out, _ = run_cli("clusters", "--db", str(db), "--clusters", "2", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 12 and {r["cluster"] for r in rows} == {"1", "2"}
    assert sum(r["label"] == "cat" for r in rows) == 1
    code, out, _ = run_cli("clusters", "--db", str(db), "--clusters", "2", "--format", "json")
    report = json.loads(out)
    assert [c["size"] for c in report["clusters"]] == [8, 4]
    assert len(report["clusters"][0]["paths"]) == 8


def test_without_predictions_or_embeddings_it_says_so_in_one_line(tmp_path: Path):
    db = project(tmp_path, embeddings=False)
    code, out, err = run_cli("clusters", "--db", str(db))
    assert code == 2 and out == "" and err.strip() == \
        "tui-label: error: run 1 stored no embeddings to cluster"
    code, _, err = run_cli("clusters", "--db", str(db), "--run", "5")
    assert code == 2 and err.strip() == "tui-label: error: run 5 has no predictions"
    with Store(tmp_path / "empty.db") as store:
        store.set_classes([ClassSpec("cat", "1")])
    code, _, err = run_cli("clusters", "--db", str(tmp_path / "empty.db"))
    assert code == 2 and "no run has predicted yet" in err

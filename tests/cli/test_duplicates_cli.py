"""``tui-label duplicates`` through the real command: exact copies, near copies, embedding
duplicates of a run, leakage across the split, and bad input as one line with exit code 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.fake_model import save_run
from tests.helpers.images import noise
from tests.helpers.photos import portrait
from tui_label.config.settings import ClassSpec
from tui_label.core.types import TrainingItem
from tui_label.media.scan import scan
from tui_label.store import Store


def project(tmp_path: Path) -> tuple[Path, Path, dict[str, int]]:
    """A folder with one photo three ways (a.png, an exact copy, a smaller JPEG) and four
    unrelated pictures; cat labels on the photo and its copy; the photo in the training split,
    its copy in validation."""
    root = tmp_path / "data"
    (root / "x").mkdir(parents=True)
    portrait(480, 320, seed=1).save(root / "a.png")
    (root / "x" / "a-copy.png").write_bytes((root / "a.png").read_bytes())
    portrait(480, 320, seed=1).resize((240, 160)).save(root / "x" / "a-small.jpg", quality=75)
    for i in range(4):
        noise((64, 48), seed=10 + i).save(root / f"n{i}.png")
    db = tmp_path / "labels.db"
    with Store(db) as store:
        store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2")])
        store.sync_images(scan(root))
        ids = store.image_ids()
        cat = store.classes()[0].id
        store.label(ids["a.png"], cat)
        store.label(ids["x/a-copy.png"], cat)
        store.assign_splits([TrainingItem(ids["a.png"], "a.png", cat, (cat,))], 0.0)
        store.conn.execute("INSERT INTO splits (image_id, split) VALUES (?, 'val')",
                           (ids["x/a-copy.png"],))
        store.conn.commit()
    return root, db, ids


def test_exact_and_near_copies_with_labels_splits_and_a_leak_warning(tmp_path: Path):
    root, db, _ = project(tmp_path)
    code, out, err = run_cli("duplicates", str(root), "--db", str(db))
    assert code == 0, err
    assert "group 1: 2 exact duplicates (same bytes)" in out
    assert "  a.png  cat  [train]" in out and "  x/a-copy.png  cat  [val]" in out
    assert "group 2: 3 near duplicates" in out and "x/a-small.jpg  unlabeled" in out
    assert "2 group(s), 5 of 7 images; 2 straddle the train/validation split" in out
    assert "note: no run has predicted yet: embedding duplicates skipped" in out
    leaks = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(leaks) == 2 and "a.png (train), x/a-copy.png (val)" in leaks[0]
    assert "Traceback" not in err


def test_csv_and_json_list_every_image_of_every_group(tmp_path: Path):
    root, db, ids = project(tmp_path)
    code, out, _ = run_cli("duplicates", str(root), "--db", str(db), "--by", "exact,near",
                           "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["group"], r["kind"], r["path"]) for r in rows] == [
        ("1", "exact", "a.png"), ("1", "exact", "x/a-copy.png"),
        ("2", "near", "a.png"), ("2", "near", "x/a-copy.png"), ("2", "near", "x/a-small.jpg")]
    code, out, _ = run_cli("duplicates", str(root), "--db", str(db), "--by", "exact",
                           "--format", "json")
    report = json.loads(out)
    (group,) = report["groups"]
    assert group["image_ids"] == sorted([ids["a.png"], ids["x/a-copy.png"]])
    assert [m["label"] for m in group["images"]] == ["cat", "cat"]
    assert report["images"] == 7 and len(report["leaks"]) == 1


def test_embedding_duplicates_of_the_latest_run_need_no_folder(tmp_path: Path):
    root, db, _ = project(tmp_path)
    with Store(db) as store:
        paths = sorted(store.image_ids())
        emb = {p: [float(i == k) for k in range(8)] for i, p in enumerate(paths)}
        # Every image its own direction (one-hot over 8 axes, 7 images), but n0 and n1 share
        # the eighth.
        emb["n0.png"] = emb["n1.png"] = [0.0] * 7 + [1.0]
        save_run(store, {p: [0.5, 0.5] for p in paths}, embeddings=emb)
    code, out, err = run_cli("duplicates", "--db", str(db), "--by", "embedding")
    assert code == 0, err
    assert "group 1: 2 embedding duplicates (cosine >= 1.000)" in out
    assert "  n0.png  unlabeled" in out and "  n1.png  unlabeled" in out


def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path):
    root, db, _ = project(tmp_path)
    for args, message in [
        (["--by", "pixels"], "--by takes exact, near, embedding (comma separated), not 'pixels'"),
        (["--by", "embedding", "--run", "9"], "run 9 has no predictions"),
        (["--max-bits", "40"], "40 is not in the range 0<=x<=16"),
    ]:
        code, out, err = run_cli("duplicates", str(root), "--db", str(db), *args)
        assert code == 2 and out == "" and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, err = run_cli("duplicates", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no database at" in err
    code, _, err = run_cli("duplicates", "--db", str(db), "--by", "near")
    assert code == 2 and "which folder holds the images? give DIR" in err

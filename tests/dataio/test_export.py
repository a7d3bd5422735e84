"""``tui-label export``: never onto the database, never over a file without --force, never a
half-written file, and no spreadsheet formula in a CSV cell."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.cli import (
    assert_usage_error,
    db_fingerprint,
    labeled_db,
    run_cli,
    tree,
    without_root_powers,
)
from tests.helpers.data import make_images
from tests.helpers.queue import queue_of
from tui_label.cli import main as cli
from tui_label.config.settings import ClassSpec
from tui_label.dataio import export
from tui_label.dataio.export import folders
from tui_label.media.scan import ScannedFile, scan
from tui_label.store import Store

TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]


def _exported(db: Path, *args: str) -> tuple[int, str, str]:
    return run_cli("export", "--db", str(db), *args)


# --- never onto the database ------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["same", "relative", "dotdot", "symlink", "hardlink"])
def test_export_refuses_to_write_onto_its_database(tmp_path: Path, spelling: str, monkeypatch):
    db = labeled_db(tmp_path)
    before = db_fingerprint(db)
    target = {
        "same": db,
        "relative": Path(os.path.relpath(db)),
        "dotdot": tmp_path / "data" / ".." / db.name,
        "symlink": tmp_path / "link.csv",
        "hardlink": tmp_path / "hard.csv",
    }[spelling]
    if spelling == "symlink":
        target.symlink_to(db)
    if spelling == "hardlink":
        os.link(db, target)
    for force in ([], ["--force"]):
        code, _, err = _exported(db, "-o", str(target), *force)
        assert_usage_error(code, err, "onto the database")
        assert db_fingerprint(db) == before
    store = Store(db)
    assert [(r["path"], r["action"], r["class"]) for r in store.current_labels()] == [
        ("img000.png", "label", "cat"), ("img001.png", "label", "dog"),
        ("img002.png", "skip", None)]
    store.close()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
@pytest.mark.parametrize("exists", [False, True])
def test_export_refuses_the_database_side_files(tmp_path: Path, suffix: str, exists: bool):
    db = labeled_db(tmp_path)
    side = Path(f"{db}{suffix}")
    if exists:
        side.write_bytes(b"\0" * 64)
    for force in ([], ["--force"]):
        code, _, err = _exported(db, "-o", str(side), *force)
        assert_usage_error(code, err, "onto the database")
    assert side.exists() == exists
    if exists:
        assert side.read_bytes() == b"\0" * 64


def test_export_refuses_any_sqlite_file_even_with_force(tmp_path: Path):
    db = labeled_db(tmp_path)
    other_dir = tmp_path / "other"
    other = labeled_db(other_dir)
    before = db_fingerprint(other)
    code, _, err = _exported(db, "-o", str(other), "--force")
    assert_usage_error(code, err, "is an SQLite database")
    assert db_fingerprint(other) == before


def test_export_keeps_an_existing_file_without_force(tmp_path: Path):
    db = labeled_db(tmp_path)
    target = tmp_path / "labels.csv"
    target.write_text("my precious notes\n")
    code, _, err = _exported(db, "-o", str(target))
    assert_usage_error(code, err, "--force")
    assert target.read_text() == "my precious notes\n"
    code, _, err = _exported(db, "-o", str(target), "--force")
    assert code == 0, err
    assert [r["path"] for r in csv.DictReader(target.open())] == ["img000.png", "img001.png"]


def test_forced_export_keeps_the_file_mode_and_new_files_follow_the_umask(tmp_path: Path):
    db = labeled_db(tmp_path)
    target = tmp_path / "labels.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    assert _exported(db, "-o", str(target), "--force")[0] == 0
    assert target.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.csv"
    old = os.umask(0o022)
    try:
        assert _exported(db, "-o", str(fresh))[0] == 0
    finally:
        os.umask(old)
    assert fresh.stat().st_mode & 0o777 == 0o644


def test_export_leaves_no_file_beside_the_database(tmp_path: Path):
    db = labeled_db(tmp_path)
    before, files = db_fingerprint(db), tree(tmp_path)
    code, out, err = _exported(db)
    assert code == 0 and "img000.png" in out, err
    assert db_fingerprint(db) == before
    assert tree(tmp_path) == files  # no -wal, no -shm


def test_a_read_only_database_can_be_exported_and_stays_as_it_was(tmp_path: Path):
    db = labeled_db(tmp_path)
    db.chmod(0o444)
    before = db_fingerprint(db)
    for command in ("export", "stats"):
        code, out, err = run_cli(command, "--db", str(db), preexec_fn=without_root_powers)
        assert code == 0 and "cat" in out, err
    assert db_fingerprint(db) == before


# --- never a half file -------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True])
def test_failed_export_leaves_no_half_file(tmp_path: Path, monkeypatch, existing: bool):
    db = labeled_db(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "labels.csv"
    if existing:
        target.write_text("previous export\n")

    def fail_halfway(rows, out, *args, **kwargs):
        out.write("path,label,annotator,labeled_at\nimg000.png,cat,")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "write_csv", fail_halfway)
    args = ["export", "--db", str(db), "-o", str(target)] + (["--force"] if existing else [])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    assert sorted(p.name for p in out_dir.iterdir()) == (["labels.csv"] if existing else [])
    if existing:
        assert target.read_text() == "previous export\n"


# --- spreadsheet formulas ----------------------------------------------------------------------


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("column", ["path", "label", "annotator", "labeled_at"])
def test_csv_cells_that_start_a_formula_are_neutralized(trigger: str, column: str):
    row = {"path": "a.png", "label": "cat", "annotator": "ann",
           "labeled_at": "2024-01-01T00:00:00Z"}
    row[column] = f"{trigger}HYPERLINK(\"http://evil\",\"x\")"
    out = io.StringIO()
    export.write_csv([row], out)
    (read,) = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert read[column] == "'" + row[column]
    assert all(read[k] == v for k, v in row.items() if k != column)


@pytest.mark.parametrize("value", ["cat", "2024-01-01T00:00:00Z", "a=b", "x-1", "", " =1"])
def test_csv_cells_without_a_trigger_stay_as_they_are(value: str):
    assert export.neutralize(value) == value


def test_export_neutralizes_hostile_names_in_csv_but_not_in_jsonl(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 2)
    (data / "img000.png").rename(data / "-2+3.png")
    (data / "img001.png").rename(data / "@SUM(A1).png")
    db = tmp_path / "l.db"
    store = Store(db, annotator="=cmd|' /C calc'!A0")
    store.set_classes([ClassSpec("+1", "1"), ClassSpec("\tdog", "2")])
    store.sync_images(scan(data))
    classes = store.classes()
    for item, cls in zip(queue_of(store, "all"), classes, strict=True):
        store.label(item.id, cls.id)
    store.close()
    code, out, err = _exported(db)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["path"], r["label"], r["annotator"]) for r in rows] == [
        ("'-2+3.png", "'+1", "'=cmd|' /C calc'!A0"),
        ("'@SUM(A1).png", "'\tdog", "'=cmd|' /C calc'!A0"),
    ]
    target = tmp_path / "labels.jsonl"
    code, _, err = _exported(db, "--format", "jsonl", "-o", str(target))
    assert code == 0, err
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [(r["path"], r["label"]) for r in rows] == [("-2+3.png", "+1"),
                                                       ("@SUM(A1).png", "\tdog")]


# --- issue 9: what is exported -----------------------------------------------------------------


def team_db(tmp_path: Path, *, splits: bool = True) -> tuple[Path, Path]:
    """Two annotators on six images (``data/``, database ``team.db``):

    - img000: alice cat, bob cat (agreed); split train
    - img001: alice dog, bob cat (disagree); split val
    - img002: alice cat, bob cat (agreed); split val
    - img003: alice bird, then alice undoes it (no label)
    - img004: alice skips it
    - img005: alice cat, bob dog, bob undoes his (the undo restores alice's cat, as bob's event)
    """
    data = tmp_path / "data"
    make_images(data, 6)
    db = tmp_path / "team.db"
    alice = Store(db, annotator="alice")
    alice.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("bird", "3")])
    alice.sync_images(scan(data))
    ids = {item.path: item.id for item in queue_of(alice, "all")}
    cls = {c.name: c.id for c in alice.classes()}
    bob = Store(db, annotator="bob")
    alice.label(ids["img000.png"], cls["cat"])
    bob.label(ids["img000.png"], cls["cat"])
    alice.label(ids["img001.png"], cls["dog"])
    bob.label(ids["img001.png"], cls["cat"])
    bob.label(ids["img002.png"], cls["cat"])
    alice.label(ids["img002.png"], cls["cat"])
    alice.undo(alice.label(ids["img003.png"], cls["bird"]))
    alice.skip(ids["img004.png"])
    alice.label(ids["img005.png"], cls["cat"])
    bob.undo(bob.label(ids["img005.png"], cls["dog"]))
    if splits:
        alice.conn.executemany("INSERT INTO splits (image_id, split) VALUES (?, ?)", [
            (ids["img000.png"], "train"), (ids["img001.png"], "val"),
            (ids["img002.png"], "val")])
    bob.close()
    alice.close()
    return data, db


def _csv_rows(db: Path, *args: str) -> list[tuple[str, ...]]:
    code, out, err = _exported(db, *args)
    assert code == 0, err
    return [(r["path"], r["label"], r["annotator"], r["split"])
            for r in csv.DictReader(io.StringIO(out, newline=""))]


def test_default_export_is_the_current_labels_with_their_split(tmp_path: Path):
    _, db = team_db(tmp_path)
    assert _csv_rows(db) == [
        ("img000.png", "cat", "bob", "train"),
        ("img001.png", "cat", "bob", "val"),
        ("img002.png", "cat", "alice", "val"),
        ("img005.png", "cat", "bob", ""),  # bob's undo restored alice's cat
    ]


def test_one_annotators_own_latest_labels(tmp_path: Path):
    _, db = team_db(tmp_path)
    assert _csv_rows(db, "--annotator", "alice") == [
        ("img000.png", "cat", "alice", "train"),
        ("img001.png", "dog", "alice", "val"),
        ("img002.png", "cat", "alice", "val"),
        ("img005.png", "cat", "alice", ""),
    ]  # img003: undone by her; img004: skipped
    target = tmp_path / "alice.jsonl"
    code, _, err = _exported(db, "--annotator", "alice", "--include-skipped",
                             "--format", "jsonl", "--out", str(target))
    assert code == 0, err
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(r["path"], r["label"], r["split"]) for r in rows] == [
        ("img000.png", "cat", "train"), ("img001.png", "dog", "val"),
        ("img002.png", "cat", "val"), ("img004.png", "", ""), ("img005.png", "cat", "")]
    # bob's undo of his img005 label is not a label of his, though it restored a cat
    assert _csv_rows(db, "--annotator", "bob") == [
        ("img000.png", "cat", "bob", "train"),
        ("img001.png", "cat", "bob", "val"),
        ("img002.png", "cat", "bob", "val"),
    ]


def test_agreed_labels_only(tmp_path: Path):
    _, db = team_db(tmp_path)
    carol = Store(db, annotator="carol")  # a review settles a label: it is no one's rating
    cat = next(c.id for c in carol.classes() if c.name == "cat")
    img005 = next(i.id for i in queue_of(carol, "all") if i.path == "img005.png")
    carol.add_event(img005, "label", cat, source="review")
    carol.close()
    assert _csv_rows(db, "--agreed") == [
        ("img000.png", "cat", "alice,bob", "train"),
        ("img002.png", "cat", "alice,bob", "val"),
    ]  # img001 disagrees; img005 has one annotator's label once bob's undo is left out


@pytest.mark.parametrize("args, fragment", [
    (["--annotator", "carol"], "no labels by annotator 'carol' (annotators: alice, bob)"),
    (["--annotator", "alice", "--agreed"], "not both"),
    (["--format", "xml"], "xml"),
    (["--format", "imagefolder"], "--out"),
    (["--copy"], "--copy is for"),
    (["--format", "imagefolder", "--include-skipped", "--out", "{out}"], "--include-skipped"),
    (["--format", "imagefolder", "--with-predictions", "--out", "{out}"], "--with-predictions"),
])
def test_bad_export_options_are_one_line(tmp_path: Path, args: list[str], fragment: str):
    data, db = team_db(tmp_path)
    before, files = db_fingerprint(db), tree(tmp_path)
    args = [a.replace("{out}", str(tmp_path / "out")) for a in args]
    code, _, err = _exported(db, str(data), *args)
    assert_usage_error(code, err, fragment)
    assert db_fingerprint(db) == before
    assert tree(tmp_path) == files


# --- imagefolder and hf ------------------------------------------------------------------------


def _links(out: Path) -> dict[str, str]:
    """Every file under ``out``: a symlink's target, or ``copy`` for a plain file."""
    return {str(p.relative_to(out)): os.readlink(p) if p.is_symlink() else "copy"
            for p in sorted(out.rglob("*")) if not p.is_dir()}


def test_imagefolder_links_each_image_under_its_split_and_class(tmp_path: Path):
    data, db = team_db(tmp_path)
    out = tmp_path / "export"
    code, _, err = _exported(db, str(data), "--format", "imagefolder", "--out", str(out))
    assert code == 0 and "wrote 4 labels" in err, err
    root = str(data.resolve())
    assert _links(out) == {
        "train/cat/img000.png": f"{root}/img000.png",
        "train/cat/img005.png": f"{root}/img005.png",  # no stored split: train
        "val/cat/img001.png": f"{root}/img001.png",
        "val/cat/img002.png": f"{root}/img002.png",
    }
    assert (out / "val" / "cat" / "img001.png").read_bytes() == (data / "img001.png").read_bytes()
    # every exported class has a folder in both splits, so class indices agree
    code, _, err = _exported(db, str(data), "--format", "imagefolder", "--out",
                             str(tmp_path / "alice"), "--annotator", "alice")
    assert code == 0, err
    assert sorted(str(p.relative_to(tmp_path / "alice")) for p in (tmp_path / "alice").rglob("*")
                  if p.is_dir()) == ["train", "train/cat", "train/dog", "val", "val/cat",
                                     "val/dog"]
    assert _links(tmp_path / "alice")["val/dog/img001.png"] == f"{root}/img001.png"


def test_imagefolder_copies_and_has_no_split_folders_without_splits(tmp_path: Path):
    data, db = team_db(tmp_path, splits=False)
    out = tmp_path / "export"
    code, _, err = _exported(db, str(data), "--format", "imagefolder", "--copy", "--out", str(out))
    assert code == 0 and "copied" in err, err
    assert _links(out) == {f"cat/img00{i}.png": "copy" for i in (0, 1, 2, 5)}
    for i in (0, 1, 2, 5):
        assert (out / "cat" / f"img00{i}.png").read_bytes() == \
            (data / f"img00{i}.png").read_bytes()


def test_folder_export_uses_the_recorded_dataset_folder(tmp_path: Path):
    data, db = team_db(tmp_path)
    out = tmp_path / "export"
    code, _, err = _exported(db, "--format", "imagefolder", "--out", str(out))
    assert_usage_error(code, err, "which folder holds the images? give DIR")
    store = Store(db)
    store.set_setting("root", str(data))
    store.close()
    code, _, err = _exported(db, "--format", "imagefolder", "--out", str(out), "--agreed")
    assert code == 0, err
    assert sorted(_links(out)) == ["train/cat/img000.png", "val/cat/img002.png"]


def test_folder_export_leaves_out_images_not_on_disk(tmp_path: Path):
    data, db = team_db(tmp_path)
    (data / "img002.png").unlink()
    out = tmp_path / "export"
    code, _, err = _exported(db, str(data), "--format", "hf", "--out", str(out))
    assert code == 0, err
    assert "wrote 3 labels" in err and "left out 1 images not found" in err
    assert "img002.png" not in str(_links(out))


def _metadata(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_hf_layout_has_a_metadata_csv_per_split(tmp_path: Path):
    data, db = team_db(tmp_path)
    out = tmp_path / "hf"
    code, _, err = _exported(db, str(data), "--format", "hf", "--out", str(out))
    assert code == 0, err
    assert sorted(_links(out)) == ["train/cat/img000.png", "train/cat/img005.png",
                                   "train/metadata.csv", "val/cat/img001.png",
                                   "val/cat/img002.png", "val/metadata.csv"]
    train = _metadata(out / "train" / "metadata.csv")
    assert list(train[0]) == ["file_name", "label", "split", "path", "annotator", "labeled_at"]
    assert [(r["file_name"], r["label"], r["split"], r["path"]) for r in train] == [
        ("cat/img000.png", "cat", "train", "img000.png"),
        ("cat/img005.png", "cat", "", "img005.png")]
    assert [(r["file_name"], r["label"]) for r in _metadata(out / "val" / "metadata.csv")] == [
        ("cat/img001.png", "cat"), ("cat/img002.png", "cat")]


def test_hf_layout_keeps_class_names_raw_and_adds_predictions_on_request(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 2)
    db = tmp_path / "l.db"
    store = Store(db)
    store.set_classes([ClassSpec("=cmd", "1"), ClassSpec("dog", "2")])
    store.sync_images(scan(data))
    for item, cls in zip(queue_of(store, "all"), store.classes(), strict=True):
        store.label(item.id, cls.id)
    store.close()
    out = tmp_path / "hf"
    code, _, err = _exported(db, str(data), "--format", "hf", "--out", str(out))
    assert code == 0, err
    rows = _metadata(out / "metadata.csv")  # no splits: one folder
    assert [(r["file_name"], r["label"], r["split"]) for r in rows] == [
        ("=cmd/img000.png", "=cmd", ""), ("dog/img001.png", "dog", "")]
    code, _, err = _exported(db, str(data), "--format", "hf", "--out", str(out), "--force",
                             "--with-predictions")
    assert_usage_error(code, err, "no predictions yet")
    assert [r["label"] for r in _metadata(out / "metadata.csv")] == ["=cmd", "dog"]


def test_hf_export_loads_with_the_datasets_library(tmp_path: Path):
    datasets = pytest.importorskip(
        "datasets", reason="the Hugging Face datasets package is not installed (optional: "
                           "pip install datasets)")
    data, db = team_db(tmp_path)
    out = tmp_path / "hf"
    code, _, err = _exported(db, str(data), "--format", "hf", "--out", str(out), "--annotator",
                             "alice")
    assert code == 0, err
    loaded = datasets.load_dataset("imagefolder", data_dir=str(out),
                                   cache_dir=str(tmp_path / "hf-cache"))
    assert sorted(loaded) == ["train", "validation"]
    assert sorted(zip(loaded["train"]["path"], loaded["train"]["label"], strict=True)) == [
        ("img000.png", "cat"), ("img005.png", "cat")]
    assert sorted(zip(loaded["validation"]["path"], loaded["validation"]["label"],
                      strict=True)) == [("img001.png", "dog"), ("img002.png", "cat")]
    image = loaded["validation"][0]["image"]
    assert image.size == (32, 24)


# --- names never write outside the output folder ---------------------------------------------


@pytest.mark.parametrize("name, safe", [
    ("a/b", "a_b"),
    ("a\\b", "a_b"),
    ("..", "_."),
    (".", "_"),
    ("../../etc/passwd", "_._.._etc_passwd"),
    ("/etc/passwd", "_etc_passwd"),
    ("a\0b", "a_b"),
    ("a\nb\r", "a_b_"),
    ("-rf", "_rf"),
    ("--force.png", "_-force.png"),
    (".hidden.png", "_hidden.png"),
    ("", "_"),
    ("chat ✓.png", "chat ✓.png"),
])
def test_safe_name(name: str, safe: str):
    assert export.safe_name(name) == safe


def test_safe_name_cuts_long_names_and_keeps_the_extension():
    safe = export.safe_name("é" * 300 + ".png")
    assert safe.endswith(".png") and len(safe.encode()) <= export.MAX_NAME_BYTES
    assert set(safe[:-4]) == {"é"}


def test_names_that_sanitize_alike_get_suffixes():
    names = export.UniqueNames(reserved=["metadata.csv"])
    claimed = [names.claim(n) for n in ["a/b.png", "a_b.png", "a_b.png", "a_b-2.png", "A_B.PNG",
                                        "metadata.csv"]]
    assert claimed == ["a_b.png", "a_b-2.png", "a_b-3.png", "a_b-2-2.png", "A_B-4.PNG",
                       "metadata-2.csv"]
    assert len({c.casefold() for c in claimed}) == len(claimed)


HOSTILE_CLASSES = ["../up", "/abs", "a\0b", "new\nline", "-rf", "a/b", "a_b", ".."]
HOSTILE_FILES = ["-rf.png", "new\nline.png", "..png", "sub/x.png", "other/x.png"]


def hostile_db(tmp_path: Path) -> tuple[Path, Path]:
    """Classes and files whose names would leave the output folder, one image each, plus two
    stored paths that lead out of the dataset folder."""
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "outside.png").write_bytes(b"not yours")
    files = HOSTILE_FILES + [f"img{i}.png" for i in range(len(HOSTILE_CLASSES)
                                                          - len(HOSTILE_FILES))]
    for rel in files:
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(rel.encode())
    db = tmp_path / "l.db"
    store = Store(db)
    store.set_classes([ClassSpec(name, str(i)) for i, name in enumerate(HOSTILE_CLASSES)])
    store.sync_images([ScannedFile(rel, 1, 1.0) for rel in files]
                      + [ScannedFile("../outside.png", 1, 1.0),
                         ScannedFile(str(tmp_path / "outside.png"), 1, 1.0)])
    ids = {item.path: item.id for item in queue_of(store, "all")}
    for rel, cls in zip(files, store.classes(), strict=True):
        store.label(ids[rel], cls.id)
    store.label(ids["../outside.png"], store.classes()[0].id)
    store.label(ids[str(tmp_path / "outside.png")], store.classes()[0].id)
    store.close()
    return data, db


@pytest.mark.parametrize("fmt", ["imagefolder", "hf"])
def test_hostile_names_stay_inside_the_output_folder(tmp_path: Path, fmt: str):
    data, db = hostile_db(tmp_path)
    store = Store(db)
    assert [c.name for c in store.classes()][:3] == ["../up", "/abs", "a\0b"]  # as stored
    store.close()
    before = tree(tmp_path)
    out = tmp_path / "out"
    code, _, err = _exported(db, str(data), "--format", fmt, "--out", str(out))
    assert code == 0, err
    assert "left out 2 images whose stored path leads out of" in err
    after = tree(tmp_path)
    assert {k: v for k, v in after.items()
            if k != "out" and not k.startswith("out/")} == before  # nothing else written
    files = _links(out)
    for rel in files:
        assert (out / rel).resolve().is_relative_to(data.resolve()) or rel.endswith(".csv")
    if fmt == "hf":
        rows = _metadata(out / "metadata.csv")
        # As stored, but for NUL (in no file name, and unwritable by csv before Python 3.11).
        assert sorted(r["label"] for r in rows) == sorted(c.replace("\0", "")
                                                          for c in HOSTILE_CLASSES)
        assert {r["file_name"] for r in rows} == set(files) - {"metadata.csv"}
        assert "../outside.png" not in {r["path"] for r in rows}
        del files["metadata.csv"]
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == sorted(["_._up", "_abs", "a_b", "new_line", "_rf", "a_b-2", "a_b-3", "_."])
    assert files == {
        "_._up/_rf.png": f"{data.resolve()}/-rf.png",
        "_abs/new_line.png": f"{data.resolve()}/new\nline.png",
        "a_b/_.png": f"{data.resolve()}/..png",  # "a\0b" sorts first of the three
        "new_line/x.png": f"{data.resolve()}/sub/x.png",
        "_rf/x.png": f"{data.resolve()}/other/x.png",
        "a_b-2/img0.png": f"{data.resolve()}/img0.png",  # "a/b"
        "a_b-3/img1.png": f"{data.resolve()}/img1.png",  # "a_b"
        "_./img2.png": f"{data.resolve()}/img2.png",  # ".."
    }


# --- never over anything without --force, never into the dataset or onto the database ----------


@pytest.mark.parametrize("fmt", ["imagefolder", "hf"])
def test_folder_export_needs_force_for_a_folder_with_files(tmp_path: Path, fmt: str):
    data, db = team_db(tmp_path)
    out = tmp_path / "out"
    out.mkdir()  # an empty folder is fine
    assert _exported(db, str(data), "--format", fmt, "--out", str(out))[0] == 0
    (out / "notes.txt").write_text("mine")
    first = tree(out)
    code, _, err = _exported(db, str(data), "--format", fmt, "--out", str(out), "--agreed")
    assert_usage_error(code, err, "pass --force to replace it")
    assert tree(out) == first
    code, _, err = _exported(db, str(data), "--format", fmt, "--out", str(out), "--agreed",
                             "--force")
    assert code == 0, err
    assert not (out / "notes.txt").exists() and len(_links(out)) in (2, 4)
    assert all((data / f"img00{i}.png").is_file() for i in range(6))  # links removed, not images
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out", "team.db"]


@pytest.mark.parametrize("fmt", ["imagefolder", "hf"])
@pytest.mark.parametrize("where", ["labels.db", "sub/other.db"])
def test_forced_folder_export_never_deletes_another_database(tmp_path: Path, fmt: str,
                                                              where: str):
    """--force replaced a folder holding another project's database (only --db was kept)."""
    data, db = team_db(tmp_path)
    out = tmp_path / "out"
    other = out / where
    other.parent.mkdir(parents=True)
    shutil.copy(db, other)
    first = tree(out)
    code, _, err = _exported(db, str(data), "--format", fmt, "--out", str(out), "--force")
    assert_usage_error(code, err, f"it holds the SQLite database {other}")
    assert tree(out) == first


def test_folder_export_over_a_file_needs_force(tmp_path: Path):
    data, db = team_db(tmp_path)
    out = tmp_path / "out"
    out.write_text("a file")
    code, _, err = _exported(db, str(data), "--format", "imagefolder", "--out", str(out))
    assert_usage_error(code, err, "exists: pass --force")
    assert out.read_text() == "a file"
    assert _exported(db, str(data), "--format", "imagefolder", "--out", str(out), "--force")[0] == 0
    assert out.is_dir()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "imagefolder", "hf"])
@pytest.mark.parametrize("where, fragment", [
    ("data", "inside the dataset folder"),
    ("data/sub/export", "inside the dataset folder"),
    ("data/../data/x", "inside the dataset folder"),
    ("team.db", "onto the database"),
    ("team.db-wal", "onto the database"),
    ("team.db-shm", "onto the database"),
    (".", "{folder}"),
])
def test_export_refuses_the_dataset_and_the_database(tmp_path: Path, fmt: str, where: str,
                                                     fragment: str):
    data, db = team_db(tmp_path)
    (data / "sub").mkdir()
    before, files = db_fingerprint(db), tree(tmp_path)
    if fragment == "{folder}":
        fragment = "it holds the dataset folder" if fmt in ("imagefolder", "hf") else "is a folder"
    code, _, err = _exported(db, str(data), "--format", fmt, "--out", str(tmp_path / where),
                             "--force")
    assert_usage_error(code, err, fragment)
    assert db_fingerprint(db) == before
    assert tree(tmp_path) == files


def test_folder_export_refuses_a_folder_holding_the_database(tmp_path: Path):
    data, db = team_db(tmp_path)
    elsewhere = tmp_path / "db-home"
    elsewhere.mkdir()
    moved = elsewhere / "team.db"
    db.rename(moved)
    code, _, err = _exported(moved, str(data), "--format", "hf", "--out", str(elsewhere),
                             "--force")
    assert_usage_error(code, err, "it holds the database")
    assert moved.exists()


def test_file_export_to_a_folder_is_refused(tmp_path: Path):
    _, db = team_db(tmp_path)
    (tmp_path / "folder").mkdir()
    code, _, err = _exported(db, "--out", str(tmp_path / "folder"), "--force")
    assert_usage_error(code, err, "is a folder")


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("fmt", ["imagefolder", "hf"])
def test_failed_folder_export_leaves_no_half_folder(tmp_path: Path, monkeypatch, fmt: str,
                                                    existing: bool):
    data, db = team_db(tmp_path)
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "previous.txt").write_text("previous export")
    placed = []

    def fail_on_the_third(source: str, target: str, copy: bool) -> None:
        if len(placed) == 2:
            raise OSError(28, "No space left on device")
        os.symlink(source, target)
        placed.append(target)

    monkeypatch.setattr(folders, "place", fail_on_the_third)
    args = ["export", str(data), "--db", str(db), "--format", fmt, "--out", str(out)]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args + (["--force"] if existing else []))
    assert exit_info.value.code == 2
    assert len(placed) == 2 and not any(os.path.lexists(p) for p in placed)
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["data", "out", "team.db"] if existing else ["data", "team.db"])
    if existing:
        assert tree(out) == {"previous.txt": tree(out)["previous.txt"]}
        assert (out / "previous.txt").read_text() == "previous export"

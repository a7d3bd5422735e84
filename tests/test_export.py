"""``tui-label export``: never onto the database, never over a file without --force, never a
half-written file, and no spreadsheet formula in a CSV cell."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from tests.conftest import make_images
from tests.test_cli import (
    assert_usage_error,
    db_fingerprint,
    labeled_db,
    run_cli,
    tree,
    without_root_powers,
)
from tui_label import cli, export
from tui_label.config import ClassSpec
from tui_label.scan import scan
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
    for item, cls in zip(store.queue("all"), classes, strict=True):
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

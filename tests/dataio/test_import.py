"""``tui-label import``: each source format, the dry run, conflicts, new classes, kept annotators
and times, whole batches only, and every bad input refused with nothing written."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.helpers.cli import assert_usage_error, db_fingerprint, run_cli, tree
from tests.helpers.data import make_images
from tui_label.config.settings import ClassSpec
from tui_label.core.orders import OrderChoice
from tui_label.core.types import ImageState
from tui_label.dataio.importing import Importer, normalize_path, normalize_time, open_source
from tui_label.errors import UsageError
from tui_label.labeling.session import LabelSession
from tui_label.media.scan import scan
from tui_label.store import Store


def make_db(tmp_path: Path, labels: dict[str, str] | None = None,
            root: Path | None = None) -> tuple[Path, Path]:
    """A database on 12 images (img000.png ... img011.png) with classes cat, dog, bird and
    ``labels`` ({path: class}) written by 'tester'; closed. Returns (db, dataset root)."""
    if root is None:
        root = tmp_path / "data"
        make_images(root, 12)
    db = tmp_path / "labels.db"
    store = Store(db, annotator="tester")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("bird", "3")])
    store.sync_images(scan(root))
    store.set_setting("root", str(root.resolve()))
    ids = dict(store.conn.execute("SELECT path, id FROM images"))
    names = {c.name: c.id for c in store.classes()}
    for path, name in (labels or {}).items():
        store.label(ids[path], names[name])
    store.close()
    return db, root


def current(db: Path) -> dict[str, str]:
    """Each image's current label: {path: class}."""
    store = Store(db, create=False)
    try:
        return {r["path"]: r["class"] for r in store.current_labels() if r["action"] == "label"}
    finally:
        store.close()


def events(db: Path) -> list[tuple]:
    """Every label event as (path, class, annotator, created_at, source), in id order."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT i.path, c.name, e.annotator, e.created_at, e.source FROM label_events e "
            "JOIN images i ON i.id = e.image_id LEFT JOIN classes c ON c.id = e.class_id "
            "ORDER BY e.id").fetchall()
    finally:
        conn.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_dry_run_changes_nothing_then_yes_applies(tmp_path: Path):
    db, _ = make_db(tmp_path, {"img000.png": "cat", "img001.png": "dog"})
    src = write(tmp_path / "in.csv",
                "path,label\n"
                "img000.png,cat\n"  # unchanged
                "img001.png,bird\n"  # conflict: dog stays
                "img002.png,bird\n"  # new
                "./sub/../img003.png,dog\n"  # new, path normalized
                "img004.png,owl\n"  # unknown class
                "elsewhere.png,cat\n"  # not in the dataset
                "img005.png,\n")  # no label
    before, files = db_fingerprint(db), tree(tmp_path)
    code, out, err = run_cli("import", str(src), "--db", str(db))
    assert code == 0, err
    assert db_fingerprint(db) == before and tree(tmp_path) == files
    assert "Dry run, nothing changed" in out and "--yes" in out
    code, out, err = run_cli("import", str(src), "--db", str(db), "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["new"], plan["changed"], plan["conflicts"], plan["unchanged"]) == (2, 0, 1, 1)
    assert plan["unknown_classes"] == {"owl": 1} and plan["unknown_rows"] == 1
    assert plan["not_found"] == 1 and plan["not_found_examples"] == ["elsewhere.png"]
    assert plan["no_label"] == 1 and plan["bad_rows"] == 0 and not plan["applied"]
    assert plan["conflict_examples"] == ["img001.png: dog in the store, bird in the file "
                                         "(line 3)"]
    assert db_fingerprint(db) == before

    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["applied"] and (done["new"], done["conflicts"], done["unchanged"]) == (2, 1, 1)
    assert current(db) == {"img000.png": "cat", "img001.png": "dog", "img002.png": "bird",
                           "img003.png": "dog"}
    imported = [e for e in events(db) if e[4] == "import"]
    assert [(e[0], e[1]) for e in imported] == [("img002.png", "bird"), ("img003.png", "dog")]
    assert "owl" not in {c for _, c, *_ in events(db)}


def test_the_same_import_again_changes_nothing(tmp_path: Path):
    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.csv", "path,label\nimg000.png,cat\nimg001.png,dog\n")
    assert run_cli("import", str(src), "--db", str(db), "--yes")[0] == 0
    before = db_fingerprint(db)
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["unchanged"] == 2 and json.loads(out)["new"] == 0
    assert len(events(db)) == 2
    assert db_fingerprint(db)[1] == before[1]  # the same rows


def test_csv_with_other_column_names_and_a_dir(tmp_path: Path):
    db, root = make_db(tmp_path)
    src = write(tmp_path / "in.csv", "file,class,extra\nimg000.png,cat,x\nimg001.png,dog,y\n")
    code, _, err = run_cli("import", str(src), "--db", str(db), "--yes")
    assert_usage_error(code, err, "no 'path' column")
    code, _, err = run_cli("import", str(root), str(src), "--db", str(db), "--path-column",
                           "file", "--label-column", "class", "--yes")
    assert code == 0, err
    assert current(db) == {"img000.png": "cat", "img001.png": "dog"}


def test_jsonl_keeps_the_annotator_and_time_else_the_importer_and_now(tmp_path: Path):
    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.jsonl",
                json.dumps({"path": "img000.png", "label": "cat", "annotator": "alice",
                            "labeled_at": "2024-03-01T10:20:30.5+02:00"}) + "\n"
                "\n"
                + json.dumps({"path": "img001.png", "label": "dog"}) + "\n"
                + json.dumps({"path": "img002.png", "label": "bird", "annotator": "bob",
                              "labeled_at": "2024-03-02T08:00:00"}) + "\n")
    code, _, err = run_cli("import", str(src), "--db", str(db), "--yes", "--annotator", "carol")
    assert code == 0, err
    rows = {e[0]: e for e in events(db)}
    assert rows["img000.png"][1:] == ("cat", "alice", "2024-03-01T08:20:30.500Z", "import")
    assert rows["img002.png"][1:] == ("bird", "bob", "2024-03-02T08:00:00.000Z", "import")
    path, name, who, when, source = rows["img001.png"]
    assert (name, who, source) == ("dog", "carol", "import")
    assert when.startswith("20") and when.endswith("Z") and when > "2025"


def test_a_tui_label_export_is_recognised(tmp_path: Path):
    """The four columns ``tui-label export`` writes, a formula-looking cell quoted as it quotes
    them, and the rows --include-skipped adds (no label)."""
    db, _ = make_db(tmp_path)
    store = Store(db)
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("-neg", "4")])
    store.close()
    src = write(tmp_path / "export.csv",
                "path,label,annotator,labeled_at\n"
                "img000.png,'-neg,alice,2024-01-01T00:00:00.000Z\n"
                "img001.png,dog,'=bob,2024-01-02T00:00:00.000Z\n"
                "img002.png,,carol,2024-01-03T00:00:00.000Z\n")
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["no_label"] == 1
    assert [e[:4] for e in events(db)] == [
        ("img000.png", "-neg", "alice", "2024-01-01T00:00:00.000Z"),
        ("img001.png", "dog", "=bob", "2024-01-02T00:00:00.000Z")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip_through_tui_label_export(tmp_path: Path, fmt: str):
    labels = {"img000.png": "cat", "img003.png": "dog", "img007.png": "bird"}
    db, root = make_db(tmp_path / "a", labels, root=None)
    out = tmp_path / f"export.{fmt}"
    code, _, err = run_cli("export", "--db", str(db), "--format", fmt, "-o", str(out))
    assert code == 0, err
    fresh, _ = make_db(tmp_path / "b", root=root)
    code, _, err = run_cli("import", str(out), "--db", str(fresh), "--format", "tui-label",
                           "--yes")
    assert code == 0, err
    assert current(fresh) == labels
    assert [e[:4] for e in events(fresh)] == [e[:4] for e in events(db)]


def test_round_trip_through_an_imagefolder_export_with_split_folders(tmp_path: Path):
    """Once runs have split the labels, the export is train/CLASS/FILE and val/CLASS/FILE:
    import reads the classes under the splits (it took 'train' and 'val' for classes)."""
    labels = {f"img{i:03d}.png": ("cat", "dog", "bird")[i % 3] for i in range(9)}
    db, root = make_db(tmp_path / "a", labels)
    store = Store(db)
    store.assign_splits(store.training_items(), 0.4)
    store.close()
    out = tmp_path / "folders"
    code, _, err = run_cli("export", "--db", str(db), "--format", "imagefolder", "--out",
                           str(out))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["train", "val"]
    fresh, _ = make_db(tmp_path / "b", root=root)
    code, out_text, err = run_cli("import", str(out), "--db", str(fresh), "--yes", "--json")
    assert code == 0, err
    assert json.loads(out_text)["bad_rows"] == 0
    assert current(fresh) == labels


def test_imagefolder_inside_the_dataset_matches_by_path(tmp_path: Path):
    root = tmp_path / "pets"
    make_images(root / "cat", 2)
    make_images(root / "dog", 3)
    (root / "loose.png").write_bytes((root / "cat" / "img000.png").read_bytes())
    db, _ = make_db(tmp_path, root=root)
    code, out, err = run_cli("import", str(root), str(root), "--db", str(db), "--yes",
                             "--skip-bad-rows", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["format"] == "imagefolder" and summary["bad_rows"] == 1  # loose.png
    assert current(db) == {"cat/img000.png": "cat", "cat/img001.png": "cat",
                           "dog/img000.png": "dog", "dog/img001.png": "dog",
                           "dog/img002.png": "dog"}


def test_imagefolder_elsewhere_matches_symlinks_paths_then_unique_names(tmp_path: Path):
    root = tmp_path / "data"
    make_images(root / "sub", 3)
    make_images(root / "other", 1)  # other/img000.png: the name img000.png is not unique
    db, _ = make_db(tmp_path, root=root)
    src = tmp_path / "folders"
    (src / "cat").mkdir(parents=True)
    (src / "dog" / "sub").mkdir(parents=True)
    (src / "bird").mkdir()
    os.symlink(root / "sub" / "img001.png", src / "cat" / "renamed.png")  # as export links
    shutil.copy(root / "sub" / "img002.png", src / "dog" / "sub" / "img002.png")  # same path
    shutil.copy(root / "sub" / "img002.png", src / "bird" / "img002.png")  # unique name
    shutil.copy(root / "sub" / "img000.png", src / "bird" / "img000.png")  # ambiguous name
    code, out, err = run_cli("import", str(src), "--db", str(db), "--on-conflict", "overwrite",
                             "--yes", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["not_found"] == 1 and summary["not_found_examples"] == ["img000.png"]
    # dog/sub/img002.png comes after bird/img002.png (sorted walk) and overwrites it
    assert current(db) == {"sub/img001.png": "cat", "sub/img002.png": "dog"}
    assert summary["repeated"] == 1


def test_conflicts_skip_by_default_and_overwrite_on_request(tmp_path: Path):
    db, _ = make_db(tmp_path, {"img000.png": "cat", "img001.png": "dog"})
    src = write(tmp_path / "in.csv", "path,label\nimg000.png,dog\nimg001.png,dog\n")
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes")
    assert code == 0, err
    assert "conflicts kept" in out and "img000.png: cat in the store, dog in the file" in out
    assert current(db) == {"img000.png": "cat", "img001.png": "dog"}
    assert len(events(db)) == 2  # nothing written
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes", "--on-conflict",
                             "overwrite", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["changed"], summary["conflicts"], summary["unchanged"]) == (1, 0, 1)
    assert current(db) == {"img000.png": "dog", "img001.png": "dog"}


def test_replaced_labels_are_listed_under_changed_not_under_conflicts_kept(tmp_path: Path):
    db, _ = make_db(tmp_path, {"img000.png": "cat"})
    src = write(tmp_path / "in.csv", "path,label\nimg000.png,dog\n")
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes", "--on-conflict",
                             "overwrite")
    assert code == 0, err
    lines = out.splitlines()
    changed = next(i for i, line in enumerate(lines) if "changed labels" in line)
    assert "img000.png: cat in the store, dog in the file" in lines[changed + 1]
    assert "conflicts kept" in lines[changed + 2]
    assert "  1 batch written as label events" in out


def test_a_conflict_arising_after_the_plan_is_still_a_conflict(tmp_path: Path):
    """Another labeler labels an image between the dry run's plan and the write: the batch
    decides against the store as it is then."""
    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.csv", "path,label\nimg000.png,dog\nimg001.png,dog\n")
    store = Store(db, annotator="importer")
    importer = Importer(store, open_source(src), on_conflict="skip")
    assert importer.plan().new == 2
    other = Store(db, annotator="someone")
    other.label(1, 1)  # img000.png: cat
    other.close()
    done = importer.apply()
    store.close()
    assert (done.new, done.conflicts) == (1, 1)
    assert current(db) == {"img000.png": "cat", "img001.png": "dog"}


def test_unknown_classes_are_skipped_unless_created(tmp_path: Path):
    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.csv", "path,label\nimg000.png,owl\nimg001.png,owl\n"
                                     "img002.png,cat\n")
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes")
    assert code == 0, err
    assert "unknown classes, skipped" in out and "'owl' (2)" in out
    assert current(db) == {"img002.png": "cat"}
    store = Store(db)
    assert [c.name for c in store.classes()] == ["cat", "dog", "bird"]
    store.close()
    before = db_fingerprint(db)
    code, out, err = run_cli("import", str(src), "--db", str(db), "--create-classes")
    assert code == 0 and "classes to create" in out and db_fingerprint(db) == before
    code, out, err = run_cli("import", str(src), "--db", str(db), "--create-classes", "--yes")
    assert code == 0, err
    assert "classes created" in out
    assert current(db) == {"img000.png": "owl", "img001.png": "owl", "img002.png": "cat"}
    store = Store(db)
    owl = next(c for c in store.classes() if c.name == "owl")
    assert owl.hotkey == "4"  # the next free default hotkey: the labeler offers it
    store.close()


def test_undo_in_the_labeler_restores_an_imported_label(tmp_path: Path):
    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.csv", "path,label,annotator\nimg000.png,dog,alice\n")
    assert run_cli("import", str(src), "--db", str(db), "--yes")[0] == 0
    store = Store(db, annotator="tester")
    session = LabelSession(store, OrderChoice("all"))
    session.load()
    assert session.current.path == "img000.png"
    session.label(next(c.id for c in session.classes if c.name == "cat"))
    assert store.current(1) == ImageState.of("label", 1)
    change = session.undo()
    assert change.image_id == 1 and change.after == ImageState.of("label", 2)
    assert store.current(1) == ImageState.of("label", 2)  # the imported dog again
    store.close()


def test_an_import_stopped_in_the_third_batch_leaves_the_first_two_whole(tmp_path: Path):
    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.csv", "path,label\n" + "".join(
        f"img{i:03d}.png,cat\n" for i in range(12)))
    conn = sqlite3.connect(db)
    # Batches of 3: img006-img008 is the third. Its second row fails after its first went in.
    conn.execute("CREATE TRIGGER boom BEFORE INSERT ON label_events "
                 "WHEN NEW.image_id = (SELECT id FROM images WHERE path = 'img007.png') "
                 "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    conn.commit()
    conn.close()
    code, _, err = run_cli("import", str(src), "--db", str(db), "--yes", "--batch-size", "3")
    assert_usage_error(code, err, "import stopped in batch 3")
    assert "injected failure" in err and "6 labels" in err
    assert sorted(current(db)) == [f"img{i:03d}.png" for i in range(6)]
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER boom")
    conn.commit()
    conn.close()
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes", "--batch-size", "3",
                             "--json")
    assert code == 0, err
    assert (json.loads(out)["new"], json.loads(out)["unchanged"]) == (6, 6)
    assert len(events(db)) == 12


def test_a_parse_error_in_the_third_batch_leaves_whole_batches(tmp_path: Path):
    """The source changes between the check and the write: a row of batch 3 cannot be
    parsed any more. Batches 1 and 2 stay, nothing of batch 3 is written."""
    db, _ = make_db(tmp_path)
    good = "path,label\n" + "".join(f"img{i:03d}.png,dog\n" for i in range(12))
    src = write(tmp_path / "in.csv", good)
    store = Store(db, annotator="importer")
    importer = Importer(store, open_source(src), batch_size=4)
    assert importer.plan().new == 12
    lines = good.splitlines(keepends=True)
    lines[10] = "img009.png,dog,surplus\n"  # row 10: the third batch (rows 9-12)
    write(src, "".join(lines))
    with pytest.raises(UsageError, match="import stopped in batch 3.*line 11.*changed"):
        importer.apply()
    store.close()
    assert sorted(current(db)) == [f"img{i:03d}.png" for i in range(8)]


@pytest.mark.parametrize("name, text, args, fragment", [
    ("bad.jsonl", '{"path": "img000.png", "label": "cat"}\n\n{"path": "img001.png", "lab\n',
     [], "line 3: not valid JSON"),
    ("list.jsonl", '{"path": "img000.png", "label": ["cat", "dog"]}\n', [],
     "a list of labels, but this database is single-label"),
    ("bad.csv", 'path,label\nimg000.png,cat\n"img001.png"x,dog\n', [], "line 3: malformed CSV"),
    ("fields.csv", "path,label\nimg000.png,cat\nimg001.png,dog,extra\n", [],
     "line 3: 3 fields, the header has 2"),
    ("empty.csv", "", [], "is empty"),
    ("in.csv", "path,label\nimg000.png,cat\n", ["--format", "xml"], "'xml' is not one of"),
    ("in.txt", "path,label\nimg000.png,cat\n", [], "cannot tell the format"),
    ("up.csv", "path,label\nimg000.png,cat\n../secret.png,dog\n", [],
     "line 3: path '../secret.png' lies outside the dataset root"),
    ("abs.jsonl", '{"path": "img000.png", "label": "cat"}\n{"path": "/etc/passwd", '
     '"label": "dog"}\n', [], "line 2: path '/etc/passwd' lies outside the dataset root"),
    ("deep.csv", "path,label\nimg000.png,cat\na/../../x.png,dog\n", [], "outside the dataset"),
    ("missing.csv", None, [], "no such file or folder"),
    ("latin1.csv", b"path,label\nimg000.png,cat\nimg\xe9.png,dog\n", [],
     "not UTF-8 text (line 3, byte 4)"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path, name, text, args,
                                                          fragment):
    db, _ = make_db(tmp_path, {"img005.png": "bird"})
    src = tmp_path / name
    if isinstance(text, bytes):
        src.write_bytes(text)
    elif text is not None:
        write(src, text)
    before, files = db_fingerprint(db), tree(tmp_path)
    for extra in ([], ["--yes"]):
        code, _, err = run_cli("import", str(src), "--db", str(db), *args, *extra)
        assert_usage_error(code, err, fragment)
        assert db_fingerprint(db) == before and tree(tmp_path) == files


def test_skip_bad_rows_imports_the_rest(tmp_path: Path):
    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.jsonl", '{"path": "img000.png", "label": "cat"}\n'
                                       'not json\n'
                                       '{"path": "img001.png", "label": "dog", '
                                       '"labeled_at": "yesterday"}\n'
                                       '{"label": "dog"}\n'
                                       '{"path": "img002.png", "label": "bird"}\n')
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes")
    assert_usage_error(code, err, "3 rows cannot be parsed (first: line 2")
    assert "line 3: labeled_at 'yesterday' is not an ISO 8601 time" in out
    assert "line 4: no 'path' field" in out
    assert current(db) == {}
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes", "--skip-bad-rows")
    assert code == 0, err
    assert current(db) == {"img000.png": "cat", "img002.png": "bird"}


def test_a_repeated_path_applies_in_file_order(tmp_path: Path):
    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.csv", "path,label\nimg000.png,cat\nimg000.png,dog\n")
    code, out, err = run_cli("import", str(src), "--db", str(db), "--yes", "--json",
                             "--on-conflict", "overwrite")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["new"], summary["changed"], summary["repeated"]) == (1, 1, 1)
    assert current(db) == {"img000.png": "dog"}


def test_paths_and_times_are_normalized():
    assert normalize_path("a/./b//c.png") == "a/b/c.png"
    assert normalize_path("a/../b.png") == "b.png"
    assert normalize_path("../b.png") is None
    assert normalize_path("a/../../b.png") is None
    assert normalize_path("/abs/b.png") is None
    assert normalize_path("C:\\data\\b.png") is None
    assert normalize_path("\\\\server\\b.png") is None
    assert normalize_time("2024-01-02T03:04:05Z") == "2024-01-02T03:04:05.000Z"
    assert normalize_time("2024-01-02 03:04:05-01:00") == "2024-01-02T04:04:05.000Z"
    assert normalize_time("soon") is None


def test_the_source_must_fit_its_format(tmp_path: Path):
    (tmp_path / "folder").mkdir()
    write(tmp_path / "in.csv", "path,label\n")
    with pytest.raises(UsageError, match="is a folder"):
        open_source(tmp_path / "folder", "csv")
    with pytest.raises(UsageError, match="takes a folder"):
        open_source(tmp_path / "in.csv", "imagefolder")
    assert open_source(tmp_path / "folder").fmt == "imagefolder"


def test_ctrl_c_while_writing_says_how_far_it_got(tmp_path: Path, monkeypatch, capsys):
    from tui_label.cli import main as cli

    db, _ = make_db(tmp_path)
    src = write(tmp_path / "in.csv", "path,label\n" + "".join(
        f"img{i:03d}.png,bird\n" for i in range(12)))
    calls = []
    real = Store.import_labels

    def interrupted_third(self, rows, decide, **kwargs):
        calls.append(len(rows))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, rows, decide, **kwargs)

    monkeypatch.setattr(Store, "import_labels", interrupted_third)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["import", str(src), "--db", str(db), "--yes", "--batch-size", "5"])
    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted in batch 3: the 2 batches before it are stored (10 labels)" in err
    assert sorted(current(db)) == [f"img{i:03d}.png" for i in range(10)]

"""``tui-label import DIR SOURCE`` on a folder without a database (issue 17.13): the import
creates the database where ``label`` would, scans DIR and creates the source's classes, and
says so; a source or folder that cannot be imported leaves nothing behind (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import assert_usage_error, run_cli, tree
from tests.helpers.data import make_images
from tui_label.config.paths import DB_NAME
from tui_label.core.keys import reserved_keys
from tui_label.dataio.importing import open_source
from tui_label.errors import UsageError
from tui_label.labeling.new_project import NewProject
from tui_label.store import Store


def image_folder(root: Path, per_class: dict[str, int]) -> None:
    """``root/<class>/imgNNN.png``."""
    for name, count in per_class.items():
        make_images(root / name, count)


def stored(db: Path) -> tuple[dict[str, str | None], dict[str, str], str | None, int]:
    """The database's classes {name: key}, labels {path: class}, root and image count."""
    store = Store(db, create=False)
    try:
        labels = {r["path"]: r["class"] for r in store.current_labels()
                  if r["action"] == "label"}
        return ({c.name: c.hotkey for c in store.classes()}, labels,
                store.get_setting("root"), store.image_count())
    finally:
        store.close()


def test_an_imagefolder_becomes_a_new_project(tmp_path: Path):
    data = tmp_path / "data"
    image_folder(data, {"cat": 3, "dog": 2, "bird": 1})
    before = tree(tmp_path)
    code, out, err = run_cli("import", str(data), str(data))  # a dry run creates nothing
    assert code == 0, err
    db = data / DB_NAME
    assert out.splitlines()[0] == (f"New database (nothing created yet): would create {db}, "
                                   "found 6 images, would create 3 classes (bird, cat, dog), "
                                   "would import 6 labels")
    assert "Nothing created: run again with --yes" in out
    assert tree(tmp_path) == before
    code, out, err = run_cli("import", str(data), str(data), "--yes")
    assert code == 0, err
    assert out.splitlines()[0] == (f"Created {db}: found 6 images, created 3 classes (bird, "
                                   "cat, dog), imported 6 labels")
    keys, labels, root, images = stored(db)
    assert sorted(keys) == ["bird", "cat", "dog"] and images == 6 and root == str(data)
    assert all(keys.values()) and len(set(keys.values())) == 3  # each class on its own key
    assert not set(keys.values()) & set(reserved_keys())
    assert labels == {f"{name}/img{i:03d}.png": name
                      for name, n in (("cat", 3), ("dog", 2), ("bird", 1)) for i in range(n)}
    # The database is the folder's: the other commands find it from DIR.
    code, out, err = run_cli("stats", str(data), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["labeled"] == 6


def test_a_csv_becomes_a_new_project(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 5)
    src = tmp_path / "labels.csv"
    src.write_text("path,label\nimg000.png,owl\nimg001.png,cat\nimg003.png,owl\n"
                   "img004.png,\n", encoding="utf-8")
    code, out, err = run_cli("import", str(data), str(src), "--yes", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["new_database"] == str(data / DB_NAME) and summary["images_found"] == 5
    assert summary["created_classes"] == ["cat", "owl"] and summary["new"] == 3
    keys, labels, _, images = stored(data / DB_NAME)
    assert sorted(keys) == ["cat", "owl"] and all(keys.values()) and images == 5
    assert labels == {"img000.png": "owl", "img001.png": "cat", "img003.png": "owl"}


def test_a_new_project_goes_to_db_when_given(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 2)
    src = tmp_path / "in.jsonl"
    src.write_text('{"path": "img001.png", "label": "dog"}\n', encoding="utf-8")
    db = tmp_path / "projects" / "dogs.db"
    code, out, err = run_cli("import", str(data), str(src), "--db", str(db), "--yes")
    assert code == 0, err
    assert out.startswith(f"Created {db}: found 2 images, created 1 class (dog), imported 1 "
                          "label\n")
    assert stored(db)[1] == {"img001.png": "dog"} and not (data / DB_NAME).exists()


@pytest.mark.parametrize("folder, text, args, fragment", [
    ("data", 'path,label\nimg000.png,cat\n"img001.png"x,dog\n', [], "line 3: malformed CSV"),
    ("data", "path,label\nimg000.png,cat\nimg001.png,dog,extra\n", [],
     "1 rows cannot be parsed (first: line 3: 3 fields"),
    ("data", "path,label\nimg000.png,cat\n../secret.png,dog\n", [],
     "path '../secret.png' lies outside the dataset root"),
    ("data", "path,label\nother/a.png,cat\nother/b.png,dog\n", [], "names an image of"),
    ("data", "path\nimg000.png\n", [], "no 'label' column"),
    ("empty", "path,label\nimg000.png,cat\n", [], "no images found"),
    (None, "path,label\nimg000.png,cat\n", ["--db", "none/x.db"],
     "give the dataset folder to create one"),
])
def test_what_cannot_be_imported_leaves_no_database(tmp_path: Path, folder, text, args,
                                                    fragment):
    make_images(tmp_path / "data", 3)
    (tmp_path / "empty").mkdir()
    src = tmp_path / "in.csv"
    src.write_text(text, encoding="utf-8")
    where = [str(tmp_path / folder)] if folder else []
    args = [str(tmp_path / a) if a.endswith(".db") else a for a in args]
    before = tree(tmp_path)
    for extra in ([], ["--yes"]):
        code, _, err = run_cli("import", *where, str(src), *args, *extra)
        assert_usage_error(code, err, fragment)
        assert tree(tmp_path) == before  # no database, no -wal, no folder


def test_a_write_that_fails_takes_the_new_database_back(tmp_path: Path, monkeypatch):
    """Checked, created, then the import's write fails: the new file goes again."""
    data = tmp_path / "data"
    make_images(data, 3)
    src = tmp_path / "in.csv"
    src.write_text("path,label\nimg000.png,cat\n", encoding="utf-8")
    before = tree(tmp_path)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Store, "import_labels", full)
    project = NewProject(data, data / DB_NAME, open_source(src, root=data))
    project.plan()
    with pytest.raises(UsageError, match="No space left on device"):
        project.apply()
    assert tree(tmp_path) == before

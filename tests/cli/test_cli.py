"""The command line: every bad input is one line on stderr with exit code 2, and no label lost."""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
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
from tests.helpers.data import SAMPLE_DATA, make_images
from tests.helpers.queue import queue_of
from tui_label.cli import main as cli
from tui_label.config import paths
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["label", "{missing}", "--classes", "a,b"], "folder not found"),
        (["label", "{file}", "--classes", "a,b"], "not a folder"),
        (["label", "{empty}", "--classes", "a,b"], "no images found"),
        (["label", "{data}"], "no classes"),
        (["label", "{data}", "--classes", "cat,cat"], "duplicate class name"),
        (["label", "{data}", "--classes", "cat:c,dog:c"], "duplicate hotkey"),
        (["label", "{data}", "--classes", "cat:q"], "clashes with the 'quit' key"),
        (["label", "{data}", "--classes", "a,b", "--renderer", "ascii"], "ascii"),
        (["label", "{data}", "--classes", "a,b", "--order", "sideways"], "--order"),
        # the default is one of the choices the error lists
        (["label", "{data}", "--classes", "a,b", "--order", "sideways"], "choose auto, unlabeled"),
        (["label", "{data}", "--classes", "a,b", "--order", "class:zebra"], "zebra"),
        (["label", "{data}", "--classes", "a,b", "--db", "{data}"], "is a directory"),
        (["label", "{data}", "--classes", "a,b", "--db", "{notdb}"], "not a database"),
        (["label", "{data}", "--classes", "a,b", "--order", "class:nope", "--db", "{newdb}"],
         "nope"),
        (["label", "{data}", "--order", "class:nope", "--db", "{newdb}"], "no classes"),
        (["label", "{empty}", "--classes", "a,b", "--db", "{newdb}"], "no images found"),
        (["label", "{data}", "--classes", "a,a", "--db", "{newdb}"], "duplicate class name"),
        (["label"], "Missing argument"),
        (["frobnicate"], "No such command"),
        (["stats", "--db", "{nodb}"], "no database"),
        (["export", "--db", "{nodb}"], "no database"),
        (["stats"], "give the dataset folder"),
        # accepted before: nan passes every range check; an empty hotkey
        (["label", "{data}", "--classes", "a,b", "--overlap", "nan"], "'nan' is not a number"),
        (["doctor", "--timeout", "nan"], "'nan' is not a number"),
        # an empty file got a whole schema from a command that writes nothing
        (["stats", "--db", "{emptyfile}"], "(the file is empty)"),
        (["export", "--db", "{emptyfile}"], "(the file is empty)"),
        (["label", "{data}", "--classes", "a:,b"], "no hotkey after 'a:'"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], fragment: str):
    """One line, exit 2, and no file or folder made or changed (no database, no -wal)."""
    data = tmp_path / "data"
    make_images(data, 2)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "notdb.db").write_text("not sqlite at all " * 50)
    subst = {
        "{missing}": str(tmp_path / "nope"), "{file}": str(tmp_path / "file.txt"),
        "{empty}": str(tmp_path / "empty"), "{data}": str(data),
        "{notdb}": str(tmp_path / "notdb.db"), "{nodb}": str(tmp_path / "none.db"),
        "{newdb}": str(tmp_path / "new" / "dir" / "x.db"),
        "{emptyfile}": str(tmp_path / "zero.db"),
    }
    (tmp_path / "zero.db").touch()
    before = tree(tmp_path)
    code, _, err = run_cli(*[subst.get(a, a) for a in args])
    assert_usage_error(code, err, fragment)
    assert tree(tmp_path) == before


def test_bad_config_file_is_one_line(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 2)
    (data / "tui-label.toml").write_text("classes = [\n")
    code, _, err = run_cli("label", str(data))
    assert_usage_error(code, err, "not valid TOML")


def test_errors_never_touch_existing_labels(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 3)
    db = tmp_path / "l.db"
    store = Store(db)
    store.set_classes([ClassSpec("cat", "1")])
    store.sync_images(scan(data))
    store.label(queue_of(store, "all")[0].id, store.classes()[0].id)
    store.close()
    before, files = db_fingerprint(db), tree(tmp_path)
    for args in (
        ["--classes", "cat,cat"],
        ["--classes", "x:q"],
        ["--order", "class:nope"],
        ["--classes", "cat,dog", "--order", "class:nope"],  # neither classes nor settings
        ["--classes", "dog", "--order", "sideways"],
    ):
        code, _, err = run_cli("label", str(data), "--db", str(db), *args)
        assert_usage_error(code, err, "")
        assert db_fingerprint(db) == before, args
        assert tree(tmp_path) == files, args  # no -wal or -shm left behind either
    store = Store(db)
    assert [(r["path"], r["class"]) for r in store.current_labels()] == [("img000.png", "cat")]
    store.close()


def test_help_and_version():
    code, out, _ = run_cli("--help")
    assert code == 0 and "label" in out and "demo" in out and "export" in out
    code, out, _ = run_cli("label", "--help")
    assert code == 0 and "--renderer" in out and "--classes" in out and "--db" in out
    code, out, _ = run_cli("--version")
    assert code == 0 and "tui-label" in out




def test_export_csv_and_jsonl(tmp_path: Path):
    db = labeled_db(tmp_path)
    code, out, _ = run_cli("export", "--db", str(db))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["path"], r["label"], r["annotator"]) for r in rows] == [
        ("img000.png", "cat", "ann"), ("img001.png", "dog", "ann")]
    assert rows[0]["labeled_at"].endswith("Z")
    target = tmp_path / "out.jsonl"
    code, _, err = run_cli("export", "--db", str(db), "--format", "jsonl", "-o", str(target),
                           "--include-skipped")
    assert code == 0 and "wrote 3 labels" in err
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["cat", "dog", ""]


def test_export_to_unwritable_path_is_usage_error(tmp_path: Path):
    db = labeled_db(tmp_path)
    code, _, err = run_cli("export", "--db", str(db), "-o", str(tmp_path / "no" / "dir.csv"))
    assert_usage_error(code, err, "cannot write")


def test_stats(tmp_path: Path):
    db = labeled_db(tmp_path)
    code, out, _ = run_cli("stats", "--db", str(db))
    assert code == 0
    assert "4 images: 2 labeled, 1 skipped, 1 to go" in out
    assert "cat" in out and "dog" in out


def test_default_db_beside_data_or_in_data_dir(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    assert paths.default_db(data) == data / "tui-label.db"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(paths, "is_writable", lambda folder: False)
    fallback = paths.default_db(data)
    assert fallback.parent == tmp_path / "xdg" / "tui-label"
    assert fallback.name.startswith("data-") and fallback.suffix == ".db"
    # Stable per dataset, different for another one.
    assert paths.default_db(data) == fallback
    other = tmp_path / "other" / "data"
    other.mkdir(parents=True)
    assert paths.default_db(other) != fallback


def test_read_only_dataset_uses_data_dir_and_says_where(tmp_path: Path, monkeypatch):
    """DIR read-only: the default database lands in the data dir and the exit line names it."""
    data = tmp_path / "data"
    make_images(data, 2)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(paths, "is_writable", lambda folder: False)
    ran = {}

    def fake_run(self):  # the app itself is covered by the Pilot tests
        ran["db"] = self.store.path

    monkeypatch.setattr("tui_label.tui.app.LabelApp.run", fake_run)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["label", str(data), "--classes", "a,b", "--renderer", "halfcell"])
    assert exit_info.value.code == 0
    assert ran["db"].parent == tmp_path / "xdg" / "tui-label"
    assert not (data / "tui-label.db").exists()
    assert ran["db"].exists()


def test_exit_line_names_the_database(tmp_path: Path, monkeypatch, capsys):
    data = tmp_path / "data"
    make_images(data, 2)
    monkeypatch.setattr("tui_label.tui.app.LabelApp.run", lambda self: None)
    with pytest.raises(SystemExit):
        cli.main(["label", str(data), "--classes", "a,b"])
    out = capsys.readouterr().out
    assert f"Labels saved in {data / 'tui-label.db'}" in out
    assert "0 labeled" in out


def test_sample_data_is_complete():
    images = sorted(p.name for p in (SAMPLE_DATA / "digits").glob("*.png"))
    assert len(images) == 500
    rows = list(csv.DictReader((SAMPLE_DATA / "ground_truth.csv").open()))
    assert len(rows) == 500 and {r["label"] for r in rows} == {str(d) for d in range(10)}
    assert (SAMPLE_DATA / "LICENSE").is_file()
    from tui_label.config.settings import load_config_classes, resolve_classes

    specs = resolve_classes(load_config_classes(SAMPLE_DATA / "tui-label.toml"))
    assert all(s.name == s.key for s in specs) and len(specs) == 10
    assert paths.sample_data_dir().resolve() == SAMPLE_DATA.resolve()


# --- database faults at start-up: one line, exit 2, nothing lost, nothing left behind ---------




@pytest.mark.parametrize("classes", [["--classes", "cat,dog"], []])
def test_read_only_database_is_one_line_at_start(tmp_path: Path, classes: list[str]):
    db = labeled_db(tmp_path)
    db.chmod(0o444)
    before, files = db_fingerprint(db), tree(tmp_path)
    code, _, err = run_cli("label", str(tmp_path / "data"), "--db", str(db), *classes,
                           preexec_fn=without_root_powers)
    assert_usage_error(code, err, "read-only")
    assert db_fingerprint(db) == before
    assert tree(tmp_path) == files  # no -wal or -shm


@pytest.mark.parametrize("classes", [["--classes", "cat,dog"], []])
def test_database_locked_past_the_busy_timeout_is_one_line_at_start(tmp_path: Path, classes):
    db = labeled_db(tmp_path)
    store = Store(db)
    store.set_setting("root", str((tmp_path / "data").resolve()))  # nothing left to write
    store.close()
    before, files = db_fingerprint(db), tree(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys\n"
         f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\nprint('held', flush=True)\nsys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run_cli("label", str(tmp_path / "data"), "--db", str(db), *classes,
                               env={"TUI_LABEL_BUSY_TIMEOUT_MS": "200"})
    finally:
        holder.stdin.close()  # the holder rolls back and closes
        holder.wait(timeout=30)
    assert_usage_error(code, err, "locked by another process")
    assert db_fingerprint(db) == before
    assert tree(tmp_path) == files


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` up to ``leave`` bytes free."""
    st = os.statvfs(folder)
    (folder / "filler").write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 300 KB tmpfs (needs the right to mount, as root in CI)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
                              capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def many_images(folder: Path, count: int) -> None:
    """``count`` files with long names: scanning records them all (it never decodes)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:05d}-{'x' * 150}.png").write_bytes(b"png")


def test_full_disk_at_start_is_one_line_and_keeps_the_labels(tmp_path: Path, small_disk: Path):
    data = tmp_path / "data"
    make_images(data, 3)
    db = small_disk / "l.db"
    store = Store(db)
    store.set_classes([ClassSpec("cat", "1")])
    store.sync_images(scan(data))
    store.label(queue_of(store, "all")[0].id, store.classes()[0].id)
    store.close()
    _fill(small_disk, 36 * 1024)  # room for SQLite's shared memory, not for the new images
    before, files = db_fingerprint(db), tree(small_disk)
    many_images(data, 2000)
    code, _, err = run_cli("label", str(data), "--db", str(db), "--classes", "cat,dog")
    assert_usage_error(code, err, "disk is full")
    assert db_fingerprint(db) == before
    assert tree(small_disk) == files


def test_full_disk_on_a_new_database_leaves_nothing(tmp_path: Path, small_disk: Path):
    data = tmp_path / "data"
    many_images(data, 2000)
    code, _, err = run_cli("label", str(data), "--db", str(small_disk / "new" / "l.db"),
                           "--classes", "cat,dog")
    assert_usage_error(code, err, "disk is full")
    assert list(small_disk.iterdir()) == []


def _file_size_limit(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_file_size_limit_on_a_new_database_is_one_line_and_leaves_nothing(tmp_path: Path):
    """``ulimit -f`` (SQLite reports a disk I/O error): works without the right to mount."""
    data = tmp_path / "data"
    many_images(data, 2000)
    files = tree(tmp_path)
    code, _, err = run_cli("label", str(data), "--db", str(tmp_path / "new" / "l.db"),
                           "--classes", "cat,dog", preexec_fn=_file_size_limit(100_000))
    assert_usage_error(code, err, "cannot write to the database")
    assert tree(tmp_path) == files


def test_demo_help_names_the_demo_database():
    code, out, _ = run_cli("demo", "--help")
    assert code == 0
    assert "demo.db" in out and "DIR/tui-label.db" not in out


@pytest.mark.parametrize("command", [["stats"], ["export", "-o", "OUT"]])
def test_a_damaged_database_is_one_line_not_a_traceback(tmp_path: Path, command: list[str]):
    """A page of the file overwritten (a bad disk, a copy cut short): SQLite opens it and
    finds the damage when it reads that page."""
    db = labeled_db(tmp_path)
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    # The labels' table (the store opens without reading it: the damage is met later).
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'label_events'"
                        ).fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)
    command = [str(tmp_path / "out.csv") if a == "OUT" else a for a in command]
    code, _, err = run_cli(*command, "--db", str(db))
    assert_usage_error(code, err, "the database cannot be read: ")


def test_commands_that_only_read_work_in_a_folder_that_cannot_be_written(tmp_path: Path):
    """SQLite cannot make a WAL database's -shm file there, even to read: stats, export and
    suspects were a one-line error ("attempt to write a readonly database")."""
    db = labeled_db(tmp_path)
    db.parent.chmod(0o555)
    try:
        before = tree(db.parent)
        code, out, err = run_cli("stats", "--db", str(db), preexec_fn=without_root_powers)
        assert code == 0, err
        assert "cat" in out and "dog" in out
        code, out, err = run_cli("export", "--db", str(db), "-o", "-",
                                 preexec_fn=without_root_powers)
        assert code == 0, err
        assert out.splitlines()[0].startswith("path,label")
        assert tree(db.parent) == before
    finally:
        db.parent.chmod(0o755)

"""``tui-label train``: every bad input is one line on stderr with exit code 2, before any run
is recorded and without touching a label."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import assert_usage_error, run_cli
from tests.helpers.training import integrity, make_db
from tui_label.store import Store


def runs_and_labels(db: Path) -> tuple[int, list[dict]]:
    store = Store(db)
    try:
        return store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0], store.current_labels()
    finally:
        store.close()


# Each case: which database to make, the arguments after "train", and a fragment of the message.
CASES = [
    ("none", [], "give the dataset folder DIR or --db PATH"),
    ("none", ["--db", "{missing_db}"], "no database at"),
    ("none", ["{missing_dir}"], "folder not found"),
    ("ok", ["--db", "{db}", "--model", "resnet1800"],
     "unknown model 'resnet1800' (did you mean resnet18"),
    ("ok", ["--db", "{db}", "--epochs", "0"], "--epochs must be at least 1"),
    ("ok", ["--db", "{db}", "--lr", "-1"], "--lr must be a positive number"),
    ("ok", ["--db", "{db}", "--batch-size", "0"], "--batch-size must be at least 1"),
    ("ok", ["--db", "{db}", "--image-size", "4"], "--image-size must be between"),
    ("ok", ["--db", "{db}", "--val-fraction", "1.5"], "--val-fraction must be between 0 and 1"),
    ("ok", ["--db", "{db}", "--weights", "{missing_file}"], "--weights file not found"),
    ("ok", ["--db", "{db}", "--weights", "{db}", "--pretrained"], "give one"),
    ("ok", ["--db", "{db}", "--pretrained"], "small-cnn has no pretrained weights"),
    ("ok", ["--db", "{db}", "--device", "cuda"], "no CUDA GPU"),
    ("ok", ["--db", "{db}", "--device", "tpu"], "'tpu'"),
    # Tracebacks before: an integer torch cannot take, a rate that overflowed, a batch that
    # ran out of memory (the kernel killed the trainer, its run stuck at "running").
    ("ok", ["--db", "{db}", "--seed", "99999999999999999999999"], "--seed must be between"),
    ("ok", ["--db", "{db}", "--lr", "1e308"], "--lr must be at most 10"),
    ("ok", ["--db", "{db}", "--batch-size", "99999999999999999999999"],
     "--batch-size must be at most 65,536"),
    # Several processes on a GPU that is not there: refused before torchrun starts.
    ("ok", ["--db", "{db}", "--nproc", "2", "--device", "cuda"], "no CUDA GPU"),
    ("one_class", ["--db", "{db}"], "too few labels"),
    ("thin", ["--db", "{db}"], "no class has 2 labels"),
    ("no_root", ["--db", "{db}"], "which folder holds the images"),
]


def make_case_db(tmp_path: Path, kind: str) -> Path | None:
    if kind == "none":
        return None
    keep = {
        "ok": lambda p: True,
        "no_root": lambda p: True,
        "one_class": lambda p: p.startswith("red/"),
        "thin": lambda p: p.endswith("/000.png"),  # one label of each class
    }[kind]
    _, db, _ = make_db(tmp_path, per_class=3, keep=keep, record_root=kind != "no_root")
    return db


@pytest.mark.parametrize("kind, args, fragment", CASES,
                         ids=[f"{k}:{' '.join(a[2:] or a)}" for k, a, _ in CASES])
def test_train_usage_errors(tmp_path: Path, kind: str, args: list[str], fragment: str):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA GPU is present here")
    db = make_case_db(tmp_path, kind)
    subst = {"{db}": str(db), "{missing_db}": str(tmp_path / "none.db"),
             "{missing_dir}": str(tmp_path / "nope"),
             "{missing_file}": str(tmp_path / "none.pt")}
    before = runs_and_labels(db) if db else None
    code, out, err = run_cli("train", *[subst.get(a, a) for a in args])
    assert_usage_error(code, err, fragment)
    assert out == ""
    assert not (tmp_path / "none.db").exists()
    if db is not None:
        runs, labels = runs_and_labels(db)
        assert runs == 0  # the checks all come before a run is recorded
        assert labels == before[1]
        assert integrity(db) == "ok"
        assert not (db.parent / f"{db.stem}-runs").exists()



@pytest.mark.parametrize("command", ["train", "cache"])
def test_a_cache_folder_that_cannot_be_written_is_one_line_and_no_run(tmp_path: Path,
                                                                      command: str):
    """It was a PermissionError traceback (exit 1), and train recorded a failed run."""
    from tests.helpers.cli import without_root_powers
    from tui_label.media.decode_cache import cache_dir

    db = make_case_db(tmp_path, "ok")
    cache_dir(db).mkdir()
    cache_dir(db).chmod(0o555)
    before = runs_and_labels(db)
    args = ["--epochs", "1", "--image-size", "16"] if command == "train" else ["--size", "16"]
    code, _, err = run_cli(command, "--db", str(db), *args, preexec_fn=without_root_powers)
    assert_usage_error(code, err, f"cannot use the decode cache {cache_dir(db)}/16px: "
                                  "Permission denied")
    assert runs_and_labels(db) == before
    assert list(cache_dir(db).iterdir()) == []

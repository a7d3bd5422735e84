"""``tui-label cache``: fills the decode cache a run then reuses; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.cli import assert_usage_error, db_fingerprint
from tests.helpers.data import sample_store
from tui_label.cli import main as cli
from tui_label.media import decode as images
from tui_label.media import decode_cache
from tui_label.media.decode_cache import DecodeCache


def call(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def digits_db(tmp_path: Path) -> Path:
    db = tmp_path / "digits.db"
    sample_store(db, per_class=3).close()
    return db


def events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_cache_fills_every_image_then_only_what_is_new(digits_db: Path, capsys):
    code, out, err = call(capsys, "cache", "--db", str(digits_db), "--size", "16",
                          "--events", "json")
    assert code == 0, err
    done = events(out)[-1]
    assert done["event"] == "cached"
    assert (done["images"], done["decoded"], done["reused"]) == (500, 500, 0)
    progress = [e for e in events(out) if e["event"] == "caching"]
    assert progress[-1]["done"] == progress[-1]["total"] == 500
    code, out, _ = call(capsys, "cache", "--db", str(digits_db), "--size", "16",
                        "--events", "json")
    assert (events(out)[-1]["decoded"], events(out)[-1]["reused"]) == (0, 500)
    # What is stored is what the trainer's decode gives.
    from tui_label.store import Store

    store = Store(digits_db, readonly=True)
    root = Path(store.get_setting("root"))
    some = store.readable_images()[::97]
    store.close()
    with DecodeCache.open(digits_db, 16) as cache:
        view = cache.view([i for i, _ in some], [root / p for _, p in some])
        got = view.batch(np.arange(len(view)))
    want = np.stack([np.asarray(images.decode_square(root / p, 16).image) for _, p in some])
    assert np.array_equal(got, want)


def test_labeled_only(digits_db: Path, capsys, monkeypatch):
    decoded = []
    real = decode_cache.images.decode_square
    monkeypatch.setattr(decode_cache.images, "decode_square",
                        lambda path, size: decoded.append(path) or real(path, size))
    code, out, err = call(capsys, "cache", "--db", str(digits_db), "--labeled", "--size", "8",
                          "--events", "json")
    assert code == 0, err
    assert events(out)[-1]["images"] == 30 and len(decoded) == 30


@pytest.mark.parametrize("args, message", [
    (["--size", "4"], "--size must be between 8 and 4096"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_bad_options_are_one_line_and_write_nothing(digits_db: Path, capsys, args, message):
    before = db_fingerprint(digits_db)
    code, out, err = call(capsys, "cache", "--db", str(digits_db), *args)
    assert_usage_error(code, err, message)
    assert db_fingerprint(digits_db) == before
    assert not (digits_db.parent / "digits-cache").exists()


def test_no_database_or_no_folder(tmp_path: Path, digits_db: Path, capsys):
    code, _, err = call(capsys, "cache", "--db", str(tmp_path / "none.db"))
    assert_usage_error(code, err, "no database at")
    from tui_label.store import Store

    store = Store(digits_db)
    store.set_setting("root", str(tmp_path / "gone"))
    store.close()
    code, _, err = call(capsys, "cache", "--db", str(digits_db))
    assert_usage_error(code, err, "dataset folder not found")


def test_human_lines_when_not_a_terminal(digits_db: Path, capsys):
    call(capsys, "cache", "--db", str(digits_db), "--labeled", "--size", "8", "--events",
         "json")
    code, out, err = call(capsys, "cache", "--db", str(digits_db), "--size", "8", "--events",
                          "human")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "caching images 500/500 (470 decoded)"
    assert lines[1].startswith("cached 500 images in ")
    assert lines[1].endswith(f"470 decoded, 30 already cached, 0 unreadable "
                             f"({digits_db.parent / 'digits-cache' / '8px'})")

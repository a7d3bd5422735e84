"""The labeler's model options: --no-suggestions, --live-head, --auto-train, the settings of a
tui-label.toml, and a model order asked for before any run has predictions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.cli import db_fingerprint
from tests.helpers.data import make_images
from tests.helpers.fake_model import save_run
from tui_label.cli import main as cli
from tui_label.config.labeler import LabelerOptions, load_config_settings
from tui_label.errors import UsageError
from tui_label.labeling.startup import prepare
from tui_label.store import Store


def started(monkeypatch) -> dict:
    """Record the screen's options instead of running the app."""
    seen: dict = {}

    def fake_run(self):
        screen = self.label_screen
        seen.update(suggestions=screen.suggestions_allowed, live=screen.loop.live_head_every,
                    auto=screen.loop.auto_train, order=screen.session.order.name,
                    grid=self.grid)

    monkeypatch.setattr("tui_label.tui.app.LabelApp.run", fake_run)
    return seen


def run_main(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        cli.main(list(args))
    return info.value.code


def test_defaults_and_options_reach_the_screen(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    make_images(data, 2)
    seen = started(monkeypatch)
    assert run_main("label", str(data), "--classes", "a,b", "--renderer", "halfcell") == 0
    # no run yet: the first order is typical first (by the images' pixels)
    assert seen == {"suggestions": True, "live": 10, "auto": 0, "order": "typical",
                    "grid": False}
    assert run_main("label", str(data), "--renderer", "halfcell", "--no-suggestions",
                    "--live-head", "0", "--auto-train", "25") == 0
    assert seen == {"suggestions": False, "live": 0, "auto": 25, "order": "typical",
                    "grid": False}


def test_toml_settings_and_the_command_line_over_them(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    make_images(data, 2)
    (data / "tui-label.toml").write_text(
        'classes = ["a", "b"]\nsuggestions = false\nlive_head_every = 3\n')
    seen = started(monkeypatch)
    assert run_main("label", str(data), "--renderer", "halfcell") == 0
    assert seen["suggestions"] is False and seen["live"] == 3
    assert run_main("label", str(data), "--renderer", "halfcell", "--live-head", "7") == 0
    assert seen["live"] == 7


def test_the_grid_from_the_command_line_or_the_toml(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    make_images(data, 2)
    seen = started(monkeypatch)
    (data / "tui-label.toml").write_text('classes = ["a", "b"]\n')
    assert run_main("label", str(data), "--renderer", "halfcell") == 0
    assert seen["grid"] is False
    assert run_main("label", str(data), "--renderer", "halfcell", "--grid") == 0
    assert seen["grid"] is True
    (data / "tui-label.toml").write_text('classes = ["a", "b"]\ngrid = true\n')
    assert run_main("label", str(data), "--renderer", "halfcell") == 0
    assert seen["grid"] is True


@pytest.mark.parametrize("text, fragment", [
    ("suggestions = false", None),
    ('suggestions = "no"', "'suggestions' must be true or false"),
    ("live_head_every = -1", "'live_head_every' must be a whole number, 0 or more"),
    ("live_head_every = 2.5", "'live_head_every' must be a whole number"),
    ("live_head_every = true", "'live_head_every' must be a whole number"),
    ("suggestion = false", "unknown setting 'suggestion' (known: classes, suggestions, "
                           "live_head_every, overlap, multi_label"),
    ('multi_label = "yes"', "'multi_label' must be true or false"),
    ("overlap = 1.5", "'overlap' must be a number from 0 to 1"),
    ("overlap = -0.1", "'overlap' must be a number from 0 to 1"),
    ('overlap = "half"', "'overlap' must be a number from 0 to 1"),
    ("overlap = true", "'overlap' must be a number from 0 to 1"),
])
def test_toml_settings_are_checked(tmp_path: Path, text: str, fragment: str | None):
    path = tmp_path / "tui-label.toml"
    path.write_text(f'classes = ["a"]\n{text}\n')
    if fragment is None:
        assert load_config_settings(path) == LabelerOptions(suggestions=False)
        return
    with pytest.raises(UsageError, match=re.escape(fragment)) as info:
        load_config_settings(path)
    assert "\n" not in str(info.value)
    assert load_config_settings(None) == LabelerOptions(suggestions=True, live_head_every=10)


@pytest.mark.parametrize("args, fragment", [
    (["--auto-train", "-1"], "--auto-train"),
    (["--live-head", "often"], "--live-head"),
])
def test_bad_numbers_are_one_line(tmp_path: Path, capsys, args, fragment):
    data = tmp_path / "data"
    make_images(data, 2)
    assert run_main("label", str(data), "--classes", "a,b", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("tui-label: error:") and fragment in err and err.count("\n") == 1
    assert not (data / "tui-label.db").exists()


def test_a_model_order_without_predictions_is_one_line_and_writes_nothing(tmp_path: Path):
    data = tmp_path / "data"
    make_images(data, 3)
    db = tmp_path / "x.db"
    with pytest.raises(UsageError, match="needs a model, and no run has predictions yet"):
        prepare(data, db, "cat,dog", "least-confident")
    assert not db.exists()
    prepare(data, db, "cat,dog", "unlabeled").store.close()
    before = db_fingerprint(db)
    with pytest.raises(UsageError, match="needs a model"):
        prepare(data, db, None, "suspects")
    assert db_fingerprint(db) == before
    store = Store(db)
    save_run(store, {"img000.png": [0.5, 0.5]})
    store.close()
    ready = prepare(data, db, None, "suspects")
    assert ready.order.name == "suspects"
    ready.store.close()

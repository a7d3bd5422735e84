"""``LabelerOptions``: one source for the labeler's options (the command line, the
tui-label.toml keys, the app's defaults) and their precedence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui_label.config.labeler import (
    DEFAULTS,
    LabelerOptions,
    command_layer,
    labeler_fields,
    toml_keys,
    toml_layer,
)
from tui_label.errors import UsageError


def test_the_command_line_over_the_toml_over_the_database_over_the_default():
    cli = {"live_head_every": 7}
    toml = {"live_head_every": 3, "overlap": 0.5, "link": "slow"}
    stored = {"overlap": 0.25, "max_pixels": 5000}
    options = LabelerOptions.resolve(cli, toml, stored)
    assert options.live_head_every == 7  # the command line
    assert options.overlap == 0.5 and options.link == "slow"  # the toml
    assert options.max_pixels == 5000  # the database
    assert options.suggestions is True and options.order == "auto"  # the defaults
    assert LabelerOptions.resolve() == DEFAULTS == LabelerOptions()


def test_none_is_not_given_and_false_is():
    options = LabelerOptions.resolve({"overlap": None, "suggestions": False},
                                     {"overlap": 0.1, "suggestions": True})
    assert options.overlap == 0.1 and options.suggestions is False


def test_an_unknown_name_is_refused():
    with pytest.raises(KeyError, match="live_head"):
        LabelerOptions.resolve({"live_head": 3})


def test_the_command_lines_values_become_a_layer_of_what_was_given():
    values = {"renderer": "halfcell", "order": "unlabeled", "annotator": None,
              "no_suggestions": False, "live_head": None, "auto_train": 0, "overlap": None,
              "multi_label": False, "link": None, "max_pixels": None}
    assert command_layer(values) == {"renderer": "halfcell", "order": "unlabeled",
                                     "auto_train": 0}
    values.update(no_suggestions=True, multi_label=True, live_head=0, overlap=0.0)
    layer = command_layer(values)
    assert layer["suggestions"] is False and layer["multi_label"] is True
    assert layer["live_head_every"] == 0 and layer["overlap"] == 0.0


def test_every_flag_and_toml_key_comes_from_a_field():
    flags = {f.setting.flag for f in labeler_fields()}
    assert {"--renderer", "--order", "--annotator", "--no-suggestions", "--live-head",
            "--auto-train", "--overlap", "--multi-label", "--grid", "--link",
            "--max-pixels"} <= flags
    assert toml_keys() == ("suggestions", "live_head_every", "overlap", "multi_label", "grid",
                           "link", "max_pixels")
    live = next(f for f in labeler_fields() if f.name == "live_head_every")
    assert live.dest == "live_head" and f"[default: {DEFAULTS.live_head_every}," in live.help


def test_the_toml_layer_holds_only_what_the_file_gives(tmp_path: Path):
    path = tmp_path / "tui-label.toml"
    path.write_text('classes = ["a"]\noverlap = 1\nlink = "slow"\n')
    layer = toml_layer(path)
    assert layer == {"overlap": 1.0, "link": "slow"}
    assert isinstance(layer["overlap"], float)
    assert toml_layer(None) == {}


@pytest.mark.parametrize("text, message", [
    ("max_pixels = 999", "'max_pixels' must be a whole number, 1,000 or more"),
    ("max_pixels = 2000.0", "'max_pixels' must be a whole number"),
    ('link = "fast"', "'link' must be one of 'default', 'slow'"),
    ("link = 3", "'link' must be one of"),
    ("multi_label = 1", "'multi_label' must be true or false"),
    ('renderer = "kitty"', "unknown setting 'renderer'"),  # the command line's only
    ("classes = [", "is not valid TOML"),
])
def test_bad_toml_values_are_one_line(tmp_path: Path, text: str, message: str):
    path = tmp_path / "tui-label.toml"
    path.write_text(f"{text}\n")
    with pytest.raises(UsageError, match=re.escape(message)) as info:
        toml_layer(path)
    assert "\n" not in str(info.value)

"""The options several commands share are defined once (``tui_label.cli.common``), and the
labeler's are made from ``LabelerOptions``: the same flag has the same choices and default
everywhere."""

from __future__ import annotations

import click

from tui_label.cli.main import cli
from tui_label.config.labeler import labeler_fields
from tui_label.runs.options import option_field


def _param(command: str, name: str) -> click.Parameter:
    return next(p for p in cli.commands[command].params if p.name == name)


def test_events_and_device_are_trains_everywhere():
    for name in ("events", "device"):
        train = option_field(name)
        for command in ("train", "predict", "cache"):
            if command == "cache" and name == "device":
                continue
            param = _param(command, name)
            assert param.opts == [train.flag]
            assert tuple(param.type.choices) == train.spec.choices
            assert param.default == train.default


def test_db_is_the_same_option_everywhere():
    for command in ("label", "demo", "train", "predict", "cache", "suspects", "stats", "export",
                    "import"):
        param = _param(command, "db")
        assert param.opts == ["--db"] and param.default is None
        assert isinstance(param.type, click.Path) and not param.type.dir_okay


def test_label_and_demo_have_every_labeler_flag():
    for command in ("label", "demo"):
        flags = {opt for p in cli.commands[command].params for opt in p.opts}
        assert {f.setting.flag for f in labeler_fields() if f.setting.flag} <= flags


def test_every_command_is_registered():
    assert set(cli.commands) == {"label", "demo", "train", "predict", "cache", "suspects",
                                 "stats", "clusters", "duplicates", "export", "import",
                                 "doctor"}

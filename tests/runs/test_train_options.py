"""Training options have one source: the panel's text, ``TrainOptions``, the trainer's command
line and the ``tui-label train`` options all agree, field by field."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click
import pytest

from tui_label.cli.train import options_from_command
from tui_label.cli.train import train as train_command
from tui_label.errors import UsageError
from tui_label.runs.options import TrainOptions, option_field, option_fields, to_text

# A value other than the default for every field the panel can set, as the panel's text.
NON_DEFAULT_TEXT = {
    "model": "resnet18",
    "epochs": "3",
    "lr": "5e-4",
    "batch_size": "16",
    "image_size": "48",
    "pretrained": "no",
    "weights": "{weights}",
    "freeze_backbone": "yes",
    "device": "cpu",
    "balance": "loss",
    "val_fraction": "0.25",
    "hflip": "yes",
    "seed": "7",
    "unlabeled": "100",
    "compile": "yes",
    "folds": "3",
    "multi_label": "yes",
    "threshold": "0.3",
    "nice": "10",
    "events": "json",
    "resume": "4",
    "gpus": "2",
    "nproc": "2",
    "nnodes": "2",
    "node_rank": "1",
    "master_addr": "10.1.2.3",
    "master_port": "29601",
}
# --resume takes the run's own settings: with it, only these may be given (test below);
# --gpus and --nproc exclude each other (the round trip takes --nproc).
ALONE = {"resume", "gpus"}
# Set from the labeler's own state, not typed: the database and the dataset folder.
FROM_CONTEXT = {"db", "root"}


def parse_command_line(args: list[str]) -> TrainOptions:
    """What ``tui-label train ARGS`` would run with (parsed by the real click command)."""
    ctx = train_command.make_context("train", list(args))
    return options_from_command(ctx.params)


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A database, a dataset folder and a weights file, with names that look like options
    and markup."""
    root = tmp_path / "-data [b]x"
    root.mkdir()
    db = tmp_path / "-labels [red].db"
    db.write_bytes(b"")
    weights = tmp_path / "--weights.pt"
    weights.write_bytes(b"")
    return db, root.resolve(), weights


def test_every_field_is_covered_by_this_test():
    # A new option must be added to NON_DEFAULT_TEXT, or this round trip would miss it.
    assert set(NON_DEFAULT_TEXT) | FROM_CONTEXT == {f.name for f in fields(TrainOptions)}


def test_every_field_round_trips_panel_to_command_line_to_options(places):
    db, root, weights = places
    settings = {k: v.replace("{weights}", str(weights)) for k, v in NON_DEFAULT_TEXT.items()
                if k not in ALONE}
    opts = TrainOptions.from_settings(db, root, settings)
    defaults = TrainOptions(db=db, root=root)
    for name in settings:  # each text really set its field, away from the default
        assert getattr(opts, name) != getattr(defaults, name), name
        assert to_text(getattr(opts, name)) == to_text(option_field(name).parse(settings[name]))
    assert opts.lr == 5e-4 and opts.weights == weights and opts.pretrained is False
    args = opts.command_args()
    assert parse_command_line(args) == opts


def test_resume_round_trips_with_the_options_it_allows(places):
    db, root, _ = places
    # Where and in how many processes the run goes on may change; nothing of the run itself.
    allowed = {k: NON_DEFAULT_TEXT[k] for k in ("resume", "device", "nice", "events", "nproc",
                                                "nnodes", "node_rank", "master_addr",
                                                "master_port")}
    opts = TrainOptions.from_settings(db, root, allowed)
    assert (opts.resume, opts.device, opts.nice, opts.events) == (4, "cpu", 10, "json")
    assert (opts.nproc, opts.nnodes, opts.node_rank) == (2, 2, 1)
    assert parse_command_line(opts.command_args()) == opts
    for name, text in NON_DEFAULT_TEXT.items():  # any run setting with it is refused
        if name in ("weights", "gpus", *allowed):
            continue  # (--gpus: with --nproc it is refused for that; tested with the launcher)
        with_it = TrainOptions.from_settings(db, root, {**allowed, name: text})
        with pytest.raises(UsageError) as err:
            parse_command_line(with_it.command_args())
        assert str(err.value).startswith("--resume continues a run with its own settings: "
                                         f"{option_field(name).flag} cannot be given")


def test_defaults_round_trip_and_write_a_short_command_line(places):
    db, root, _ = places
    panel_defaults = {f.name: f.default_text for f in option_fields()
                      if f.name not in FROM_CONTEXT}
    opts = TrainOptions.from_settings(db, root, panel_defaults)
    assert opts == TrainOptions(db=db, root=root)
    assert opts.command_args() == [f"--db={db}", "--", str(root)]
    assert parse_command_line(opts.command_args()) == opts
    assert parse_command_line(["--db", str(db)]) == TrainOptions(db=db)


def test_auto_and_empty_text_mean_the_trainer_decides(places):
    db, root, _ = places
    opts = TrainOptions.from_settings(db, root, {"lr": "auto", "image_size": "",
                                                 "pretrained": "auto", "epochs": ""})
    assert (opts.lr, opts.image_size, opts.pretrained) == (None, None, None)
    assert opts.epochs == option_field("epochs").default
    assert opts.learning_rate == 3e-3 and opts.size == 64


def test_fixed_settings_override_the_panel(places):
    db, root, _ = places
    opts = TrainOptions.from_settings(db, root, {"events": "human"}, events="json", nice=10)
    assert (opts.events, opts.nice) == ("json", 10)


@pytest.mark.parametrize("settings, message", [
    ({"epochs": "many"}, "epochs: 'many' is not a number"),
    ({"lr": "fast"}, "lr: 'fast' is not a number"),
    ({"hflip": "maybe"}, "flip: 'maybe' is not yes or no"),
    ({"epochs": "0"}, "--epochs must be at least 1"),
    ({"device": "tpu"}, "--device must be one of auto, cpu, cuda, mps"),
    ({"balance": "auto"}, "--balance must be one of none, loss, sampler"),
    ({"colour": "red"}, "unknown training settings: colour"),
    ({"resume": "0"}, "--resume takes a run id (1 or more)"),
])
def test_bad_panel_text_is_one_usage_error(places, settings, message):
    db, root, _ = places
    with pytest.raises(UsageError) as err:
        TrainOptions.from_settings(db, root, settings)
    assert str(err.value) == message


def test_click_options_come_from_the_fields():
    params = {p.name: p for p in train_command.params}
    assert set(params) == {f.name for f in fields(TrainOptions)}
    for f in option_fields():
        param = params[f.name]
        if f.spec.argument:
            assert isinstance(param, click.Argument)
            continue
        assert param.help == f.spec.help
        assert param.default == (f.default if f.has_default else None), f.name
        assert param.hidden == f.spec.hidden
        if f.spec.choices:
            assert tuple(param.type.choices) == f.spec.choices
        if f.kind is bool:
            assert param.secondary_opts == [f.negative_flag]

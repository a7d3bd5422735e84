"""``tui-label train``: its options are made from ``TrainOptions``' fields.

Imported by ``tui_label.cli.main`` (and so by the labeler): torch loads only when a run begins.
"""

from __future__ import annotations

import sys

import click
from click.core import ParameterSource

from tui_label.cli.common import existing_db, field_option
from tui_label.runs.options import TrainOptions, check_resume_flags, option_fields


def train_options(command):
    """Add every ``TrainOptions`` field to ``command`` as an argument or option."""
    for f in reversed(option_fields()):
        command = field_option(f)(command)
    return command


def options_from_command(settings: dict, given: set[str] | None = None) -> TrainOptions:
    """Validated options from the parsed command line (the folder and database checked).

    ``given``: the options typed on the command line (default: those that differ from their
    default); with ``--resume`` only a few may be.
    """
    if settings.get("resume") is not None:
        if given is None:
            given = {f.name for f in option_fields()
                     if f.has_default and settings.get(f.name, f.default) != f.default}
        check_resume_flags(sorted(given, key=[f.name for f in option_fields()].index))

    db, root = existing_db(settings["root"], settings["db"])
    opts = TrainOptions(**{**settings, "db": db, "root": root})
    opts.validate()
    return opts


@click.command("train")
@train_options
def train(**settings) -> None:
    """Fine-tune a classifier on the labels so far (headless; the panel runs the same)."""
    ctx = click.get_current_context()
    given = {name for name in settings if ctx.get_parameter_source(name)
             in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    opts = options_from_command(settings, given)
    from tui_label.runs.emit import Emitter
    from tui_label.trainer.stopper import Stopper

    stopper = Stopper()
    stopper.install()  # before torch's slow import: an early stop is a clean cancel
    from tui_label.trainer.run import train as run_training  # heavy: imports torch

    code = run_training(opts, Emitter(opts.events), stopper)
    if code:
        sys.exit(code)

"""``tui-label train``: its options are made from ``TrainOptions``' fields.

Imported by ``tui_label.cli.main`` (and so by the labeler): torch loads only when a run begins.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from tui_label.cli.common import existing_db
from tui_label.runs.options import OptionField, TrainOptions, check_resume_flags, option_fields


def _click_param(f: OptionField):
    """The click decorator for one field."""
    if f.spec.argument:
        return click.argument(f.name, metavar="[DIR]", required=False,
                              type=click.Path(path_type=Path))
    help_text = f.spec.help
    show_default: bool | str = f.has_default and f.default is not None
    if f.spec.auto:
        show_default = f.spec.auto
    if f.kind is bool:
        decls = [f"{f.flag}/{f.negative_flag}"]
    else:
        decls = [f.flag]
    if f.spec.choices:
        kind = click.Choice(f.spec.choices)
    elif f.kind is Path:
        kind = click.Path(dir_okay=False, path_type=Path)
    else:
        kind = f.kind
    return click.option(*decls, f.name, type=None if f.kind is bool else kind,
                        default=f.default if f.has_default else None,
                        show_default=show_default, help=help_text, hidden=f.spec.hidden,
                        metavar=f.spec.metavar or None)


def train_options(command):
    """Add every ``TrainOptions`` field to ``command`` as an argument or option."""
    for f in reversed(option_fields()):
        command = _click_param(f)(command)
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
    from tui_label.runs.events import Emitter
    from tui_label.trainer.stopper import Stopper

    stopper = Stopper()
    stopper.install()  # before torch's slow import: an early stop is a clean cancel
    from tui_label.trainer.engine import train as run_training  # imports torch

    code = run_training(opts, Emitter(opts.events), stopper)
    if code:
        sys.exit(code)

"""``tui-label label`` and ``tui-label demo``: the labeler. Their options are made from
``LabelerOptions``' fields (``tui_label.config.labeler``).

Imported by ``tui_label.cli.main``: textual loads only when the labeler starts; torch never.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from tui_label.cli.common import FiniteFloatRange, db_option, demo_db_option
from tui_label.config.labeler import LabelerField, LabelerOptions, command_layer, labeler_fields
from tui_label.config.paths import dataset_root
from tui_label.errors import UsageError


def _click_option(f: LabelerField):
    """The click option of one field: a bool is a flag away from its default; a field a
    ``tui-label.toml`` may set has no default here (not given: the toml's, else the field's)."""
    s = f.setting
    if f.kind is bool:
        return click.option(s.flag, f.dest, is_flag=True, help=f.help)
    kind: Any = f.kind
    if s.choices:
        kind = click.Choice(s.choices)
    elif f.kind is int and s.minimum is not None:
        kind = click.IntRange(min=s.minimum, max=s.maximum)
    elif f.kind is float and s.minimum is not None:
        kind = FiniteFloatRange(s.minimum, s.maximum)
    return click.option(s.flag, f.dest, type=kind, default=None if s.toml else f.default,
                        show_default=s.show_default, metavar=s.metavar or None, help=f.help)


def labeler_options(command):
    """Add every ``LabelerOptions`` field that has a flag to ``command``."""
    for f in labeler_fields():
        if f.setting.flag:
            command = _click_option(f)(command)
    return command


@click.command()
@click.argument("folder", metavar="DIR", type=click.Path(path_type=str))
@click.option("--classes", default=None,
              help="Comma-separated class names, optionally NAME:KEY (default: tui-label.toml).")
@db_option
@labeler_options
def label(folder, classes, db, **given) -> None:
    """Label the images under DIR (recursively)."""
    from tui_label.config.paths import default_db

    root = dataset_root(folder)
    run_labeler(root, db or default_db(root), classes, command_layer(given))


@click.command()
@demo_db_option
@labeler_options
def demo(db, **given) -> None:
    """Label the bundled sample of 500 handwritten digits (hotkeys 0-9)."""
    from tui_label.config.paths import data_dir, sample_data_dir

    try:
        root = sample_data_dir()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    run_labeler(root, db or data_dir() / "demo.db", None, command_layer(given))


def run_labeler(root: Path, db: Path, classes: str | None, cli: Mapping[str, Any]) -> None:
    """Check every input, open the store, and run the labeler on it.

    ``cli``: the options given on the command line (``command_layer``).
    """
    from tui_label.labeling.startup import prepare

    asked = LabelerOptions.resolve(cli)
    # every input checked, then written; the toml and the database resolved
    ready = prepare(root, db, classes, asked.order, asked.annotator, overlap=asked.overlap,
                    multi_label=asked.multi_label)
    store = ready.store
    options = dataclasses.replace(ready.settings, **cli)  # the command line over those
    try:
        # the terminal is asked (auto) before Textual starts: it reads the input after that
        from tui_label.config.fidelity import fidelity_for
        from tui_label.tui.widgets.image_view import load_terminal

        fidelity = fidelity_for(options.link or "default", options.max_pixels)
        chosen, colour = load_terminal(options.renderer, fidelity)
        from tui_label.tui.app import LabelApp

        app = LabelApp(store, root, chosen, order=ready.order, rescan=ready.rescan,
                       suggestions=options.suggestions,
                       live_head_every=options.live_head_every, auto_train=options.auto_train,
                       overlap=ready.overlap, truecolor=colour.truecolor is True,
                       grid=options.grid)
    except BaseException:
        store.close()
        raise
    try:
        app.run()
    finally:
        counts = store.counts()
        store.try_reap_dead_runs(1000)  # a lock must not hide the exit line
        run = store.latest_run()
        store.close()
    click.echo(f"Labels saved in {db} ({counts.labeled} labeled, {counts.skipped} skipped, "
               f"{counts.remaining} to go).")
    if run is not None and run["status"] == "running":
        click.echo(f"Training run {run['id']} goes on in the background (pid {run['pid']}); "
                   "reopen the labeler and press t to watch it.")

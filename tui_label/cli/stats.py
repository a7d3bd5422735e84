"""``tui-label stats``: per class, per annotator and agreement, as text or JSON.

Imported by ``tui_label.cli.main`` (and so by the labeler): numpy and rich load only when the
command runs.
"""

from __future__ import annotations

import json

import click

from tui_label.cli.common import (
    db_option,
    dir_argument,
    existing_db,
    format_option,
    open_for_reading,
)


@click.command("stats")
@dir_argument
@db_option
@format_option(["text", "json"], "text", "Readable tables, or one JSON object for scripts.")
def stats(folder, db, fmt) -> None:
    """Counts and shares per class, each annotator's pace, undos and skips, and the agreement
    between annotators (Cohen's kappa per pair, Fleiss' kappa, their confusion).

    Labels per minute count active time only, as the labeler's status line does: gaps of
    over a minute between an annotator's events are breaks. Nothing is written to the
    database.
    """
    from tui_label.dataio import stats as statistics  # heavy: numpy

    db, _root = existing_db(folder, db)
    store = open_for_reading(db)
    try:
        result = statistics.compute(store)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    from rich.console import Console  # heavy: rich, for the text only

    from tui_label.dataio.stats.render import render  # heavy: rich

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=120)  # a file or a pipe: wide enough tables
    console.print(render(result))

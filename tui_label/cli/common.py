"""What the commands share, each defined once: the ``[DIR]`` argument, ``--db``,
``--annotator``, ``--format``, ``--run``, the options made from a ``TrainOptions`` field
(``--events``, ``--device``), and resolving and opening the database they name.
No textual, no torch."""

from __future__ import annotations

import math
from pathlib import Path

import click

from tui_label.config.paths import dataset_root
from tui_label.errors import UsageError
from tui_label.runs.options import OptionField, option_field


def dir_argument(f, name: str = "folder"):
    """The optional dataset folder ``[DIR]``, as the command's ``folder`` (or ``name``)."""
    return click.argument(name, metavar="[DIR]", required=False,
                          type=click.Path(path_type=Path))(f)


def db_option(f):
    """``--db FILE``, as ``tui-label train`` has it."""
    return field_option(option_field("db"))(f)


def demo_db_option(f):
    return field_option(option_field("db"), "The SQLite database (default: demo.db in "
                        "$XDG_DATA_HOME/tui-label, ~/.local/share/tui-label when it is not "
                        "set).")(f)


def annotator_option(help: str, metavar: str | None = None):
    """``--annotator NAME``: its meaning (and so its help) is the command's."""
    return click.option("--annotator", default=None, metavar=metavar, help=help)


def format_option(choices, default: str, help: str | None = None):
    """``--format``, as the command's ``fmt``: what to write, or read."""
    return click.option("--format", "fmt", type=click.Choice(choices), default=default,
                        show_default=True, help=help)


def run_option(help: str = "Which run (default: the latest finished one)."):
    """``--run RUN``, as the command's ``run_id``."""
    return click.option("--run", "run_id", type=int, default=None, help=help)


def field_option(f: OptionField, help: str | None = None):
    """The click argument or option of one ``TrainOptions`` field (``help``: the command's own
    words for it)."""
    if f.spec.argument:
        return lambda command: dir_argument(command, f.name)
    show_default: bool | str = f.has_default and f.default is not None
    if f.spec.auto:
        show_default = f.spec.auto
    decls = [f"{f.flag}/{f.negative_flag}"] if f.kind is bool else [f.flag]
    if f.spec.choices:
        kind = click.Choice(f.spec.choices)
    elif f.kind is Path:
        kind = click.Path(dir_okay=False, path_type=Path)
    else:
        kind = f.kind
    return click.option(*decls, f.name, type=None if f.kind is bool else kind,
                        default=f.default if f.has_default else None,
                        show_default=show_default, help=help or f.spec.help,
                        hidden=f.spec.hidden, metavar=f.spec.metavar or None)


def events_option(help: str | None = None):
    """``--events auto|json|human``, as ``tui-label train`` has it."""
    return field_option(option_field("events"), help)


def device_option(help: str | None = None):
    """``--device auto|cpu|cuda|mps``, as ``tui-label train`` has it."""
    return field_option(option_field("device"), help)


def existing_db(folder: Path | str | None, db: Path | None, *,
                new_ok: bool = False) -> tuple[Path, Path | None]:
    """The database to use and the dataset folder given (if any); raises ``UsageError``
    (``new_ok``: the database may not exist yet, ``tui-label import`` creates it)."""
    from tui_label.config.paths import default_db

    root = dataset_root(folder) if folder is not None else None
    if db is None:
        if root is None:
            raise UsageError("give the dataset folder DIR or --db PATH")
        db = default_db(root)
    if not db.exists() and not new_ok:
        raise UsageError(f"no database at {db}: label some images first")
    return db, root


def open_for_reading(db: Path):
    """A store to read ``db`` (stats, export, suspects). Opened for writing, though nothing is
    written on a current file: closing it then tidies the -wal and -shm files away, which a
    read-only connection cannot do. A file we may not write is opened read-only."""
    import os

    from tui_label.store import Store, StoreWriteError

    if not os.access(db.parent, os.W_OK | os.X_OK):  # SQLite could not make its -wal there
        return Store(db, readonly=True)
    try:
        return Store(db, create=False)
    except StoreWriteError as exc:
        if exc.kind != "readonly":
            raise
        return Store(db, readonly=True)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that refuses ``nan`` (which passes every comparison's check)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number.", param, ctx)
        return number

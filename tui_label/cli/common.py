"""What every headless command shares: the ``[DIR]`` argument, ``--db``, and resolving and
opening the database they name. No textual, no torch."""

from __future__ import annotations

import math
from pathlib import Path

import click

from tui_label.errors import UsageError
from tui_label.config.paths import dataset_root


def dir_argument(f):
    return click.argument("folder", metavar="[DIR]", required=False,
                          type=click.Path(path_type=Path))(f)


def db_option(f, default_help: str = "DIR/tui-label.db, or a per-dataset file in "
              "~/.local/share/tui-label when DIR is read-only"):
    return click.option(
        "--db", "db", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help=f"The SQLite database (default: {default_help}).")(f)


def demo_db_option(f):
    return db_option(f, "demo.db in $XDG_DATA_HOME/tui-label, ~/.local/share/tui-label "
                        "when it is not set")


def existing_db(folder: Path | str | None, db: Path | None) -> tuple[Path, Path | None]:
    """The database to use and the dataset folder given (if any); raises ``UsageError``."""
    from tui_label.config.paths import default_db

    root = dataset_root(folder) if folder is not None else None
    if db is None:
        if root is None:
            raise UsageError("give the dataset folder DIR or --db PATH")
        db = default_db(root)
    if not db.exists():
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

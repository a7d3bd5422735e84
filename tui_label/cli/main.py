"""The ``tui-label`` command: the group of commands, and ``main`` (``python -m tui_label`` is the
same entry point). Each command lives in its own module of this package.

Headless commands never import textual; the labeler never imports torch.
"""

from __future__ import annotations

import sys

import click

from tui_label import __version__
from tui_label.cli.cache import cache
from tui_label.cli.clusters import clusters
from tui_label.cli.doctor import doctor
from tui_label.cli.duplicates import duplicates
from tui_label.cli.export import export
from tui_label.cli.import_ import import_labels
from tui_label.cli.label import demo, label
from tui_label.cli.predict import predict, suspects
from tui_label.cli.stats import stats
from tui_label.cli.train import train
from tui_label.errors import UsageError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tui-label")
def cli() -> None:
    """Label images in the terminal, one key per class."""


for command in (label, demo, train, predict, cache, suspects, stats, clusters, duplicates,
                export, import_labels, doctor):
    cli.add_command(command)


def _damaged_database(exc: BaseException) -> bool:
    """A page of an SQLite file is damaged (found when read). sqlite3 is the store's to import:
    an error of it can only come once the store has loaded it."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(exc, sqlite3.DatabaseError)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; usage errors are one line on stderr and exit code 2, never a traceback."""
    try:
        code = cli.main(args=argv, prog_name="tui-label", standalone_mode=False)
    except (UsageError, click.UsageError) as exc:
        message = exc.format_message() if isinstance(exc, click.UsageError) else str(exc)
        click.echo(f"tui-label: error: {message}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"tui-label: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("tui-label: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if not _damaged_database(exc):
            raise
        click.echo(f"tui-label: error: the database cannot be read: {exc} (a damaged file: "
                   "restore a copy, or try `sqlite3 DB .recover`)", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)

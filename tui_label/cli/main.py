"""The ``tui-label`` command. ``python -m tui_label`` is the same entry point.

Headless commands never import textual; the labeler never imports torch.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from tui_label import __version__
from tui_label.core import orders
from tui_label.cli.cache import cache
from tui_label.cli.common import FiniteFloatRange, db_option, demo_db_option
from tui_label.terminal.probe import doctor
from tui_label.errors import UsageError
from tui_label.cli.export import export
from tui_label.config.fidelity import LINKS, MIN_PIXELS
from tui_label.cli.import_ import import_labels
from tui_label.config.paths import dataset_root
from tui_label.cli.stats import stats
from tui_label.cli.train import train
from tui_label.cli.predict import predict, suspects

RENDERERS = ("auto", "kitty", "sixel", "halfcell", "unicode")
ORDER_HELP = f"Which images to show first: {orders.usage()}."




def _run_labeler(root: Path, db: Path, classes, renderer: str, order: str, annotator, *,
                 no_suggestions: bool = False, live_head: int | None = None,
                 auto_train: int = 0, overlap: float | None = None,
                 multi_label: bool = False, link: str | None = None,
                 max_pixels: int | None = None) -> None:
    from tui_label.labeling.startup import prepare

    # every input checked, then written
    ready = prepare(root, db, classes, order, annotator, overlap=overlap,
                    multi_label=multi_label)
    settings = ready.settings
    store = ready.store
    try:
        # the terminal is asked (auto) before Textual starts: it reads the input after that
        from tui_label.config.fidelity import fidelity_for
        from tui_label.tui.widgets.image_view import load_renderer

        fidelity = fidelity_for(link or settings.link or "default",
                                max_pixels if max_pixels is not None else settings.max_pixels)
        chosen = load_renderer(renderer, fidelity)
        from tui_label.tui.app import LabelApp

        app = LabelApp(store, root, chosen, order=ready.order, rescan=ready.rescan,
                       suggestions=settings.suggestions and not no_suggestions,
                       live_head_every=settings.live_head_every if live_head is None
                       else live_head, auto_train=auto_train, overlap=ready.overlap)
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


def _labeler_options(f):
    f = click.option("--renderer", type=click.Choice(RENDERERS), default="auto",
                     show_default=True, help="How to draw images; auto detects kitty "
                     "graphics and sixel, else half blocks.")(f)
    f = click.option("--order", default="unlabeled", show_default=True, help=ORDER_HELP)(f)
    f = click.option("--annotator", default=None,
                     help="Name recorded with each label (default: your login name).")(f)
    f = click.option("--no-suggestions", is_flag=True,
                     help="Hide the model's suggestions, for an unbiased pass (also "
                          "'suggestions = false' in tui-label.toml).")(f)
    f = click.option("--live-head", "live_head", type=click.IntRange(min=0), default=None,
                     metavar="N", help="Refit the live head on the stored embeddings after "
                     "every N new labels; 0 turns it off [default: 10, or live_head_every in "
                     "tui-label.toml].")(f)
    f = click.option("--auto-train", "auto_train", type=click.IntRange(min=0), default=0,
                     metavar="N", show_default=True, help="Start a training run (the panel's "
                     "settings) after every N new labels when none is going; 0 is off.")(f)
    f = click.option("--overlap", "overlap", type=FiniteFloatRange(0, 1), default=None,
                     metavar="F", help="A share F (0 to 1) of the images goes to two annotators "
                     "or more, neither seeing the other's label, to measure agreement; stored in "
                     "the database for the whole team [default: overlap in tui-label.toml, "
                     "else the stored share, else 0].")(f)
    f = click.option("--link", type=click.Choice(list(LINKS)), default=None,
                     help="'slow' for a link of a few Mbit/s or less (SSH over a VPN or a "
                     "hotel's wifi): fewer colours and pixels per image, about half the "
                     "bytes [default: link in tui-label.toml, else default].")(f)
    f = click.option("--max-pixels", "max_pixels", type=click.IntRange(min=MIN_PIXELS),
                     default=None, metavar="N", help="Send at most N pixels per image (kitty "
                     "graphics keep their size, in less detail; sixel images get smaller) "
                     "[default: max_pixels in tui-label.toml, else --link's].")(f)
    f = click.option("--multi-label", "multi_label", is_flag=True,
                     help="Several classes per image: class keys toggle, enter saves the set "
                     "and moves on. The database remembers it (also 'multi_label = true' in "
                     "tui-label.toml); labels given so far become sets of one.")(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tui-label")
def cli() -> None:
    """Label images in the terminal, one key per class."""


@cli.command()
@click.argument("folder", metavar="DIR", type=click.Path(path_type=str))
@click.option("--classes", default=None,
              help="Comma-separated class names, optionally NAME:KEY (default: tui-label.toml).")
@db_option
@_labeler_options
def label(folder, classes, db, renderer, order, annotator, no_suggestions, live_head,
          auto_train, overlap, multi_label, link, max_pixels) -> None:
    """Label the images under DIR (recursively)."""
    from tui_label.config.paths import default_db

    root = dataset_root(folder)
    _run_labeler(root, db or default_db(root), classes, renderer, order, annotator,
                 no_suggestions=no_suggestions, live_head=live_head, auto_train=auto_train,
                 overlap=overlap, multi_label=multi_label, link=link, max_pixels=max_pixels)


@cli.command()
@demo_db_option
@_labeler_options
def demo(db, renderer, order, annotator, no_suggestions, live_head, auto_train,
         overlap, multi_label, link, max_pixels) -> None:
    """Label the bundled sample of 500 handwritten digits (hotkeys 0-9)."""
    from tui_label.config.paths import data_dir, sample_data_dir

    try:
        root = sample_data_dir()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    _run_labeler(root, db or data_dir() / "demo.db", None, renderer, order, annotator,
                 no_suggestions=no_suggestions, live_head=live_head, auto_train=auto_train,
                 overlap=overlap, multi_label=multi_label, link=link, max_pixels=max_pixels)


cli.add_command(train)  # made from TrainOptions' fields: see train/cli.py
cli.add_command(predict)  # train/predict_cli.py
cli.add_command(cache)  # cache_cli.py
cli.add_command(suspects)
cli.add_command(stats)  # stats_cli.py
cli.add_command(export)  # export_cli.py
cli.add_command(import_labels)  # import_cli.py (tui_label.dataio.importing)
cli.add_command(doctor)  # doctor.py: the terminal detected, the renderer auto uses


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
    except sqlite3.DatabaseError as exc:  # a page of the file is damaged: found when read
        click.echo(f"tui-label: error: the database cannot be read: {exc} (a damaged file: "
                   "restore a copy, or try `sqlite3 DB .recover`)", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)

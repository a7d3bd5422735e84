"""``tui-label import``: the command over ``tui_label.dataio.importing``. No textual, no torch."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tui_label.cli.common import annotator_option, db_option, existing_db, format_option
from tui_label.dataio.importing.formats import BATCH_SIZE, FORMATS
from tui_label.errors import UsageError

if TYPE_CHECKING:
    from tui_label.dataio.importing import Source


def _open_store(db: Path, annotator: str | None, *, write: bool):
    """The store; a dry run on a database we may not write reads it read-only."""
    from tui_label.store import Store, StoreWriteError

    try:
        return Store(db, create=False, annotator=annotator)
    except StoreWriteError as exc:
        if write or exc.kind != "readonly":
            raise
        return Store(db, readonly=True, annotator=annotator)


@click.command("import")
@click.argument("args", nargs=-1, metavar="[DIR] SOURCE")
@db_option
@format_option(FORMATS, "auto", "The source's format; auto: a folder is an ImageFolder, else "
               "by extension (.csv, .jsonl). A tui-label export is recognised by its header.")
@click.option("--path-column", default="path", show_default=True,
              help="The CSV column (or JSON field) with the image path, relative to the "
                   "dataset root.")
@click.option("--label-column", default="label", show_default=True,
              help="The CSV column (or JSON field) with the class name.")
@click.option("--on-conflict", type=click.Choice(["skip", "overwrite"]), default="skip",
              show_default=True, help="An image whose current label differs from the file's: "
                                      "keep it (skip) or replace it (overwrite).")
@click.option("--create-classes", is_flag=True,
              help="Create the classes the database lacks (else their rows are skipped).")
@annotator_option("Recorded for rows without an annotator (default: your login name).")
@click.option("--skip-bad-rows", is_flag=True,
              help="Import the other rows when some cannot be parsed (else nothing is).")
@click.option("--multi-label", is_flag=True,
              help="Read each label as a set of classes (a JSON list; CSV names joined by "
                   "';') and switch the database to multi-label mode, for good, when "
                   "importing. A multi-label database reads sets without it.")
@click.option("--yes", is_flag=True, help="Import. Without it, only show what would change.")
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON object.")
@click.option("--batch-size", type=int, default=BATCH_SIZE, show_default=True,
              help="Rows per transaction: an interrupted import leaves whole batches.")
def import_labels(args, db, fmt, path_column, label_column, **flags) -> None:
    """Import labels from SOURCE: a CSV (path,label), JSON lines ({"path", "label"}, with
    optional annotator and labeled_at), a tui-label export, or an ImageFolder (one folder per
    class).

    Shows what would change and changes nothing until --yes. Paths are relative to the
    dataset root. Imported labels are label events (source 'import') keeping the file's
    annotator and time when it has them. A multi-label database (or --multi-label) reads sets
    of classes: JSON lists, CSV names joined by ';' (an empty cell is the empty set).

    A folder DIR without a database is a new project: the import creates the database (where
    tui-label label would), scans DIR and creates the classes the source names (ImageFolder
    folder names, CSV label values: --create-classes is implied), after checking it all.
    """
    if not 1 <= len(args) <= 2:
        raise UsageError("give the labels to import: tui-label import [DIR] SOURCE")
    folder, src = (None, args[0]) if len(args) == 1 else args
    from tui_label.dataio.importing import Importer, open_source

    source = open_source(Path(src).expanduser(), fmt, path_column=path_column,
                         label_column=label_column)
    job = ImportJob(**flags)
    if job.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    db, root = existing_db(Path(folder) if folder is not None else None, db, new_ok=True)
    if not db.exists():
        if root is None:
            raise UsageError(f"no database at {db}: give the dataset folder to create one "
                             "(tui-label import DIR SOURCE)")
        _new_project(root, db, dataclasses.replace(source, root=root), job)
        return
    store = _open_store(db, job.annotator, write=job.yes)
    try:
        if root is None and store.get_setting("root"):
            root = Path(store.get_setting("root"))
        source = dataclasses.replace(source, root=root)
        importer = Importer(store, source, on_conflict=job.on_conflict,
                            create_classes=job.create_classes, annotator=job.annotator,
                            batch_size=job.batch_size, multi_label=job.multi_label)
        _run(importer, job)
    finally:
        store.close()


@dataclass(frozen=True)
class ImportJob:
    """How ``tui-label import`` was asked to import (the source aside)."""

    on_conflict: str
    create_classes: bool
    annotator: str | None
    skip_bad_rows: bool
    multi_label: bool
    yes: bool
    as_json: bool
    batch_size: int


def _new_project(root: Path, db: Path, source: Source, job: ImportJob) -> None:
    """Import into a folder without a database: checked, then created (or, without --yes,
    only said)."""
    from tui_label.labeling.new_project import NewProject  # heavy: the store

    _run(NewProject(root, db, source, annotator=job.annotator, batch_size=job.batch_size,
                    multi_label=job.multi_label), job, new=True)


def _run(importer, job: ImportJob, *, new: bool = False) -> None:
    """Show the plan; with ``--yes``, import and show what was done. ``importer``: an
    ``Importer``, or a ``NewProject`` (``new``) that also creates the database."""
    plan = importer.plan()
    project = importer if new else None
    blocked = plan.bad_rows and not job.skip_bad_rows
    if blocked or not job.yes:
        _show(plan, job.as_json, project)
    if blocked:
        raise UsageError(f"{plan.bad_rows} rows cannot be parsed (first: "
                         f"{plan.bad_examples[0]}): nothing imported; fix them or pass "
                         "--skip-bad-rows")
    if not job.yes:
        if not job.as_json:
            click.echo("Nothing created: run again with --yes to create it and import."
                       if new else "Nothing changed: run again with --yes to import.")
        return
    try:
        done = importer.apply()
    except KeyboardInterrupt:
        s = importer.progress
        if new:
            click.echo(f"tui-label: interrupted: nothing created ({importer.db} removed)",
                       err=True)
        elif s is not None:
            click.echo(f"tui-label: interrupted in batch {s.batches + 1}: the {s.batches} "
                       f"batches before it are stored ({s.new + s.changed} labels), that "
                       "one is not; the same import again completes it", err=True)
        raise
    _show(done, job.as_json, project)


def _show(summary, as_json: bool, project=None) -> None:
    """The summary as lines or one JSON object; a new project's (``project``) says first
    what it created (or would): the database, the images found, the classes."""
    if as_json:
        data = summary.as_dict()
        if project is not None:
            data |= {"new_database": str(project.db), "images_found": len(project.files)}
        click.echo(json.dumps(data))
        return
    from tui_label.dataio.importing import describe, describe_new

    if project is not None:
        click.echo(describe_new(summary, project.db, len(project.files)))
    for line in describe(summary):
        click.echo(line)

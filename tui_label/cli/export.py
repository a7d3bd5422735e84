"""``tui-label export``: labels out as CSV, JSON lines, an ImageFolder tree or the Hugging Face
``imagefolder`` layout (the writing is in ``tui_label.dataio.export``).

Imported by ``tui_label.cli.main`` (and so by the labeler): keep it light.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from tui_label.cli.common import (
    annotator_option,
    db_option,
    dir_argument,
    existing_db,
    format_option,
    open_for_reading,
)
from tui_label.dataio.export.formats import FOLDER_FORMATS, FORMATS
from tui_label.errors import UsageError


@click.command("export")
@dir_argument
@db_option
@format_option(FORMATS, "csv", "csv or jsonl (a file, or standard output); imagefolder (a "
               "folder per class) or hf (Hugging Face imagefolder with metadata.csv): a folder.")
@click.option("--out", "-o", "--output", "output", type=click.Path(path_type=Path),
              default=None, help="Where to write (a file, or a folder for imagefolder and "
                                 "hf); csv and jsonl go to standard output without it (or "
                                 "with -o -).")
@annotator_option("That annotator's own latest labels instead of the current ones.", "NAME")
@click.option("--agreed", is_flag=True,
              help="Only images two or more annotators labeled, all with the same class.")
@click.option("--copy", is_flag=True,
              help="imagefolder and hf: copy the images (default: symlinks to them).")
@click.option("--include-skipped", is_flag=True,
              help="csv and jsonl: also list skipped images (label empty).")
@click.option("--force", is_flag=True,
              help="Overwrite an existing file or non-empty folder (never a database).")
@click.option("--with-predictions", is_flag=True,
              help="Add the latest predicted run's class and its probability (predicted, "
                   "confidence); not with imagefolder.")
def export(folder, db, **flags) -> None:
    """Write labels: path, label, annotator, labeled_at and split (train, val, or empty).

    By default each image's current label; --annotator NAME gives that annotator's own
    latest labels, --agreed the labels annotators agree on. CSV cells that would start a
    spreadsheet formula (=, +, -, @, tab, CR) get a leading '. Folder formats split into
    train/ and val/ once any image has a stored split; class and file names are made safe
    (no separators, control characters, leading - or .) and unique (-2, -3...).

    A multi-label database exports each image's set of classes: a list in jsonl and hf (hf
    then writes metadata.jsonl), the names joined by ';' in csv; imagefolder is refused.
    """
    from tui_label.dataio import export as exporter

    db, root = existing_db(folder, db)
    job = ExportJob(**flags)
    job.check()
    if job.output is not None:  # the database and DIR checked before the database is opened
        exporter.check_output(job.output, db, force=job.force, root=root, folder=job.folder)
    store = open_for_reading(db)
    try:
        if root is None and store.get_setting("root"):
            root = Path(store.get_setting("root"))  # where the labeler last saw the images
        if job.folder and (root is None or not root.is_dir()):
            raise UsageError("which folder holds the images? give DIR" if root is None
                             else f"dataset folder not found: {root}")
        if job.output is not None:  # again with the recorded folder, before anything is written
            exporter.check_output(job.output, db, force=job.force, root=root, folder=job.folder)
        rows, sets = _read_rows(exporter, store, job)
    finally:
        store.close()
    if job.folder:
        assert root is not None and job.output is not None  # checked above
        _write_folder(exporter, job, rows, root.resolve(), sets=sets)
    else:
        _write_file(exporter, job, rows)


@dataclass
class ExportJob:
    """What ``tui-label export`` was asked to write, and where."""

    fmt: str
    output: Path | None
    annotator: str | None
    agreed: bool
    copy: bool
    include_skipped: bool
    force: bool
    with_predictions: bool

    @property
    def folder(self) -> bool:
        """A folder format (imagefolder, hf), not a file."""
        return self.fmt in FOLDER_FORMATS

    @property
    def extra(self) -> tuple[str, ...]:
        """The columns beyond the label's."""
        from tui_label.dataio.export import PREDICTION_FIELDS

        return PREDICTION_FIELDS if self.with_predictions else ()

    def check(self) -> None:
        """Refuse flags that do not go together (``UsageError``); ``-o -`` is standard output."""
        if self.output == Path("-") and not self.folder:
            self.output = None  # "-o -": standard output, as everywhere
        if self.folder and self.output is None:
            raise UsageError(f"--format {self.fmt} writes a folder: give it with --out PATH")
        if self.copy and not self.folder:
            raise UsageError("--copy is for --format imagefolder or hf")
        if self.include_skipped and self.folder:
            raise UsageError(f"--include-skipped is for csv and jsonl: {self.fmt} has no place "
                             "for an image without a class")
        if self.with_predictions and self.fmt == "imagefolder":
            raise UsageError("--with-predictions is for csv, jsonl and hf")
        if self.agreed and self.annotator is not None:
            raise UsageError("give --annotator or --agreed, not both")


def _read_rows(exporter, store, job: ExportJob) -> tuple[list[dict], bool]:
    """The rows to write, and whether the database is multi-label (sets of classes)."""
    sets = exporter.multi_label(store)
    if sets and job.fmt == "imagefolder":
        raise UsageError("this database is multi-label (a set of classes per image) and "
                         "imagefolder holds one class per image: use --format csv, jsonl "
                         "or hf")
    if sets and job.fmt == "csv" and job.include_skipped:
        raise UsageError("--include-skipped with csv in a multi-label database: an empty "
                         "label cell is the empty set there; use --format jsonl (a skip "
                         "is null)")
    rows = exporter.select_rows(store, annotator=job.annotator, agreed=job.agreed,
                                include_skipped=job.include_skipped, sets=sets)
    if sets and job.fmt == "csv":
        rows = exporter.join_sets(rows)
    if job.with_predictions:
        exporter.add_predictions(rows, store)
    return rows, sets


def _write_file(exporter, job: ExportJob, rows: list[dict]) -> None:
    def write(out) -> None:
        if job.fmt == "csv":
            exporter.write_csv(rows, out, exporter.FIELDS + job.extra)
        else:
            exporter.write_jsonl(rows, out)

    if job.output is None:
        write(sys.stdout)
        return
    exporter.write_atomically(job.output, write)
    click.echo(f"wrote {len(rows)} labels to {job.output}", err=True)


def _write_folder(exporter, job: ExportJob, rows: list[dict], root: Path, *,
                  sets: bool = False) -> None:
    output, copy = job.output, job.copy
    if job.fmt == "imagefolder":
        summary = exporter.write_folder_atomically(
            output, lambda tmp: exporter.write_imagefolder(tmp, rows, root, copy=copy))
    else:
        summary = exporter.write_folder_atomically(
            output, lambda tmp: exporter.write_hf(tmp, rows, root, copy=copy,
                                                  extra_fields=job.extra, sets=sets))
    how = "copied" if copy else "linked"
    click.echo(f"wrote {summary.written} labels to {output} (images {how})", err=True)
    if summary.not_found:
        click.echo(f"left out {summary.not_found} images not found under {root}", err=True)
    if summary.outside:
        click.echo(f"left out {summary.outside} images whose stored path leads out of {root}",
                   err=True)

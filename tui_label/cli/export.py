"""``tui-label export``: labels out as CSV, JSON lines, an ImageFolder tree or the Hugging Face
``imagefolder`` layout (the writing is in ``tui_label.dataio.export``).

Imported by ``tui_label.cli.main`` (and so by the labeler): keep it light.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tui_label.cli.common import db_option, dir_argument, existing_db, open_for_reading
from tui_label.errors import UsageError
from tui_label.dataio.export import FORMATS


@click.command("export")
@dir_argument
@db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv or jsonl (a file, or standard output); imagefolder (a folder per "
                   "class) or hf (Hugging Face imagefolder with metadata.csv): a folder.")
@click.option("--out", "-o", "--output", "output", type=click.Path(path_type=Path),
              default=None, help="Where to write (a file, or a folder for imagefolder and "
                                 "hf); csv and jsonl go to standard output without it (or "
                                 "with -o -).")
@click.option("--annotator", default=None, metavar="NAME",
              help="That annotator's own latest labels instead of the current ones.")
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
def export(folder, db, fmt, output, annotator, agreed, copy, include_skipped, force,
           with_predictions) -> None:
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
    folder_format = fmt in exporter.FOLDER_FORMATS
    if output == Path("-") and not folder_format:
        output = None  # "-o -": standard output, as everywhere
    if folder_format and output is None:
        raise UsageError(f"--format {fmt} writes a folder: give it with --out PATH")
    if copy and not folder_format:
        raise UsageError("--copy is for --format imagefolder or hf")
    if include_skipped and folder_format:
        raise UsageError(f"--include-skipped is for csv and jsonl: {fmt} has no place for "
                         "an image without a class")
    if with_predictions and fmt == "imagefolder":
        raise UsageError("--with-predictions is for csv, jsonl and hf")
    if agreed and annotator is not None:
        raise UsageError("give --annotator or --agreed, not both")
    if output is not None:  # the database and DIR checked before the database is opened
        exporter.check_output(output, db, force=force, root=root, folder=folder_format)
    store = open_for_reading(db)
    try:
        if root is None and store.get_setting("root"):
            root = Path(store.get_setting("root"))  # where the labeler last saw the images
        if folder_format and (root is None or not root.is_dir()):
            raise UsageError("which folder holds the images? give DIR" if root is None
                             else f"dataset folder not found: {root}")
        if output is not None:  # again with the recorded folder, before anything is written
            exporter.check_output(output, db, force=force, root=root, folder=folder_format)
        sets = exporter.multi_label(store)
        if sets and fmt == "imagefolder":
            raise UsageError("this database is multi-label (a set of classes per image) and "
                             "imagefolder holds one class per image: use --format csv, jsonl "
                             "or hf")
        if sets and fmt == "csv" and include_skipped:
            raise UsageError("--include-skipped with csv in a multi-label database: an empty "
                             "label cell is the empty set there; use --format jsonl (a skip "
                             "is null)")
        rows = exporter.select_rows(store, annotator=annotator, agreed=agreed,
                                    include_skipped=include_skipped, sets=sets)
        if sets and fmt == "csv":
            rows = exporter.join_sets(rows)
        if with_predictions:
            exporter.add_predictions(rows, store)
    finally:
        store.close()
    extra = exporter.PREDICTION_FIELDS if with_predictions else ()
    if folder_format:
        _write_folder(exporter, fmt, rows, output, root.resolve(), copy=copy, extra=extra,
                      sets=sets)
        return

    def write(out) -> None:
        if fmt == "csv":
            exporter.write_csv(rows, out, exporter.FIELDS + extra)
        else:
            exporter.write_jsonl(rows, out)

    if output is None:
        write(sys.stdout)
        return
    exporter.write_atomically(output, write)
    click.echo(f"wrote {len(rows)} labels to {output}", err=True)


def _write_folder(exporter, fmt: str, rows: list[dict], output: Path, root: Path, *,
                  copy: bool, extra: tuple[str, ...], sets: bool = False) -> None:
    if fmt == "imagefolder":
        summary = exporter.write_folder_atomically(
            output, lambda tmp: exporter.write_imagefolder(tmp, rows, root, copy=copy))
    else:
        summary = exporter.write_folder_atomically(
            output, lambda tmp: exporter.write_hf(tmp, rows, root, copy=copy,
                                                  extra_fields=extra, sets=sets))
    how = "copied" if copy else "linked"
    click.echo(f"wrote {summary.written} labels to {output} (images {how})", err=True)
    if summary.not_found:
        click.echo(f"left out {summary.not_found} images not found under {root}", err=True)
    if summary.outside:
        click.echo(f"left out {summary.outside} images whose stored path leads out of {root}",
                   err=True)

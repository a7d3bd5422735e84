"""The import sources: open one (``open_source``: which format, the columns) and stream its
rows (CSV, JSON lines, an ImageFolder layout), never holding the file whole."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tui_label.dataio.importing.formats import FORMATS
from tui_label.dataio.importing.rows import SET_SEPARATOR, BadRow, Row, make_row
from tui_label.errors import UsageError
from tui_label.media.scan import scan

# What ``tui-label export`` writes (tui_label.dataio.export.FIELDS), and the characters whose
# cells it prefixes with a ' against spreadsheet formulas (taken off again here).
EXPORT_FIELDS = ("path", "label", "annotator", "labeled_at")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Source:
    """Where the labels come from, and how to read them."""

    path: Path
    fmt: str  # csv | jsonl | imagefolder (tui-label exports are csv or jsonl)
    path_column: str = "path"
    label_column: str = "label"
    export: bool = False  # --format tui-label: a tui-label export, whatever its header
    root: Path | None = None  # the dataset folder, when known (ImageFolder matching)
    sets: bool = False  # multi-label: JSON lists and ';'-joined CSV cells are sets


def open_source(path: Path, fmt: str = "auto", *, path_column: str = "path",
                label_column: str = "label", root: Path | None = None) -> Source:
    """Check the source exists and fits its format (``auto``: by its extension; a folder is an
    ImageFolder).

    Raises:
        UsageError: a missing source, an unknown format, a folder given as a file or the
            reverse.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if not os.path.exists(path):
        raise UsageError(f"no such file or folder: {path}")
    is_dir = path.is_dir()
    export = fmt == "tui-label"
    if fmt == "imagefolder" or (fmt == "auto" and is_dir):
        if not is_dir:
            raise UsageError(f"--format imagefolder takes a folder (one per class), not {path}")
        return Source(path, "imagefolder", root=root)
    if is_dir:
        raise UsageError(f"{path} is a folder: use --format imagefolder, or give a file")
    if fmt in ("auto", "tui-label"):
        suffix = path.suffix.lower()
        if suffix == ".csv":
            fmt = "csv"
        elif suffix in (".jsonl", ".ndjson"):
            fmt = "jsonl"
        else:
            raise UsageError(f"cannot tell the format of {path} from its name: pass --format "
                             "csv or jsonl")
    if export:
        path_column, label_column = "path", "label"
    return Source(path, fmt, path_column, label_column, export, root)


def _unneutralize(cell: str) -> str:
    """Take off the ' that ``tui-label export`` puts before a cell a spreadsheet would run."""
    if cell.startswith("'") and cell[1:2] and cell[1] in FORMULA_TRIGGERS:
        return cell[1:]
    return cell


def read_csv(source: Source) -> Iterator[Row | BadRow]:
    """Rows of a CSV with a header naming the path and label columns (``annotator`` and
    ``labeled_at`` are read when present).

    Raises:
        UsageError: no header, a missing column, a malformed file (with its line), not UTF-8.
    """
    name = source.path
    with open(source.path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, strict=True)
        line = 0
        try:
            header = next(reader, None)
            if header is None:
                raise UsageError(f"{name} is empty: a CSV needs a header line")
            if len(set(header)) != len(header):
                raise UsageError(f"{name} line 1: a column name appears twice in the header")
            export = source.export or set(EXPORT_FIELDS) <= set(header)
            for column, option in ((source.path_column, "--path-column"),
                                   (source.label_column, "--label-column")):
                if column not in header:
                    raise UsageError(f"{name} line 1: no {column!r} column in the header "
                                     f"({', '.join(header)[:200]}); name it with {option}")
            at = {key: i for i, key in enumerate(header)}
            path_i, label_i = at[source.path_column], at[source.label_column]
            who_i, when_i = at.get("annotator"), at.get("labeled_at")
            for record in reader:
                line = reader.line_num
                where = f"line {line}"
                if not record:
                    continue  # a blank line
                if len(record) != len(header):
                    yield BadRow(where, f"{len(record)} fields, the header has {len(header)}")
                    continue
                if export:
                    record = [_unneutralize(cell) for cell in record]
                label = record[label_i]
                if source.sets:  # names joined by ';', an empty cell the empty set
                    label = label.split(SET_SEPARATOR) if label.strip() else []
                yield make_row(where, record[path_i], label,
                           record[who_i] if who_i is not None else None,
                           record[when_i] if when_i is not None else None, sets=source.sets)
        except csv.Error as exc:
            raise UsageError(f"{name} line {reader.line_num}: malformed CSV ({exc})") from None
        except UnicodeDecodeError:
            raise UsageError(f"{name}: not UTF-8 text ({_bad_utf8_at(name)})") from None


def read_jsonl(source: Source) -> Iterator[Row | BadRow]:
    """Rows of JSON lines, one object per line: ``{"path": ..., "label": ...}`` with optional
    ``annotator`` and ``labeled_at``. Blank lines are passed over.

    Raises:
        UsageError: not UTF-8.
    """
    line = 0
    try:
        with open(source.path, encoding="utf-8-sig") as f:
            for line, text in enumerate(f, 1):
                if not text.strip():
                    continue
                where = f"line {line}"
                try:
                    obj = json.loads(text)
                except ValueError as exc:
                    yield BadRow(where, f"not valid JSON ({exc.msg})")
                    continue
                if not isinstance(obj, dict):
                    yield BadRow(where, "not a JSON object")
                    continue
                if source.path_column not in obj:
                    yield BadRow(where, f"no {source.path_column!r} field")
                    continue
                yield make_row(where, obj[source.path_column], obj.get(source.label_column),
                           obj.get("annotator"), obj.get("labeled_at"), sets=source.sets)
    except UnicodeDecodeError:
        raise UsageError(f"{source.path}: not UTF-8 text ({_bad_utf8_at(source.path)})"
                         ) from None


def _bad_utf8_at(path: Path) -> str:
    """Where a file stops being UTF-8: ``line 102, byte 7`` (the text is read a block ahead,
    so the reader's own line count is behind)."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        newline = b"\n"
        line, line_start = data.count(newline, 0, exc.start) + 1, data.rfind(newline, 0,
                                                                           exc.start) + 1
        return f"line {line}, byte {exc.start - line_start + 1}"
    return "somewhere"


# Top folders that are splits, not classes: ``SRC/train/<class>/<file>`` (as ``tui-label
# export --format imagefolder`` writes once the runs have split the labels).
SPLIT_FOLDERS = frozenset({"train", "val", "valid", "validation", "test"})


def read_imagefolder(source: Source) -> Iterator[Row | BadRow]:
    """Rows of an ImageFolder layout: ``SRC/<class>/.../<file>`` is labeled ``<class>``, or
    ``SRC/<split>/<class>/.../<file>`` when every top folder is a split's (``train``, ``val``,
    ...).

    Which dataset image a file is: its path relative to the dataset root when the file (or the
    file a symlink points to, as ``tui-label export`` makes them) lies inside the dataset root;
    else its path under the class folder, and failing that its file name when exactly one
    image of the dataset has that name.
    """
    src = source.path
    real_root = os.path.realpath(source.root) if source.root is not None else None
    by_split = _split_layout(src)
    for found in scan(src):
        label, sep, rest = found.path.partition("/")
        if by_split:
            label, sep, rest = rest.partition("/")
        if not sep:
            yield BadRow(found.path, "not inside a class folder")
            continue
        path = rest
        if real_root is not None:
            target = os.path.realpath(src / found.path)
            if target.startswith(real_root + os.sep):
                path = os.path.relpath(target, real_root).replace(os.sep, "/")
        yield Row(found.path, path, label, fallback_name=rest.rsplit("/", 1)[-1])


def _split_layout(src: Path) -> bool:
    """Whether ``src`` holds split folders of class folders (see ``SPLIT_FOLDERS``)."""
    try:
        tops = [entry for entry in os.scandir(src) if not entry.name.startswith(".")]
    except OSError:
        return False
    return bool(tops) and all(e.is_dir() and e.name in SPLIT_FOLDERS for e in tops)


def read_rows(source: Source) -> Iterator[Row | BadRow]:
    """The source's rows, streamed."""
    if source.fmt == "csv":
        return read_csv(source)
    if source.fmt == "jsonl":
        return read_jsonl(source)
    return read_imagefolder(source)


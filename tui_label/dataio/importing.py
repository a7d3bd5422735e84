"""``tui-label import``: labels from a CSV, JSON lines, a tui-label export or an ImageFolder
layout, stored as label events with ``source = 'import'``.

Two passes over the source, so a file larger than memory is streamed and never held whole:

1. **plan** reads every row and checks it against the store (new, changed, conflicting,
   unchanged, unknown class, not in the dataset, cannot be parsed). Nothing is written; the dry
   run stops here. A path outside the dataset root stops it with a ``UsageError``.
2. **apply** reads the source again and writes in batches of ``BATCH_SIZE`` rows, one
   transaction per batch (``Store.import_labels``), so an interrupted import leaves whole
   batches only. Each batch decides again against the store as it is then, so a label written
   by someone else since the plan is still a conflict, never silently replaced.

Multi-label: a database in multi-label mode (or any import with ``--multi-label``, which
switches the database to that mode for good when it writes) reads each row's label as a set of
classes: a JSON list (``[]``: labeled, none of the classes; a string is a set of one), or a CSV
cell with the names joined by ``;`` (an empty cell is the empty set). A single-label database
never gets a set: a JSON list there is a row that cannot be parsed, and so is a CSV label
holding ``;`` that names no class. Sets are compared whole (a stored single label ``c`` reads
as ``{c}``).
Memory grows with the dataset's image count (a path index, as the labeler's queue), not with
the file. No textual, no torch.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tui_label.core.times import parse_iso
from tui_label.core.types import ImageState
from tui_label.errors import UsageError
from tui_label.media.scan import scan

FORMATS = ("auto", "csv", "jsonl", "imagefolder", "tui-label")
BATCH_SIZE = 5_000
SAMPLES = 5  # examples kept of each kind of problem
# What ``tui-label export`` writes (tui_label.dataio.export.FIELDS), and the characters whose cells it
# prefixes with a ' against spreadsheet formulas (taken off again here).
EXPORT_FIELDS = ("path", "label", "annotator", "labeled_at")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SET_SEPARATOR = ";"  # between the class names of a set in a CSV cell (multi-label)
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_STORE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


@dataclass(frozen=True, slots=True)
class Row:
    """One labeled image as the source gives it."""

    where: str  # "line 7", or the file under an ImageFolder
    path: str  # relative to the dataset root, '/' separated, normalized
    label: str | None  # None or "": no label (a skipped image in a tui-label export)
    annotator: str | None = None
    labeled_at: str | None = None  # normalized to UTC, as the store writes times
    fallback_name: str | None = None  # ImageFolder: match this file name when path is unknown
    labels: frozenset[str] | None = None  # multi-label: the set of class names (label None)

    def names(self) -> frozenset[str] | None:
        """The row's classes as a set (a single label as a set of one); None: no label."""
        if self.labels is not None:
            return self.labels
        return None if self.label is None else frozenset((self.label,))


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be parsed."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


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


def normalize_path(text: str) -> str | None:
    """``text`` as a dataset path (``a/./b//c`` → ``a/b/c``); None when it lies outside the
    dataset root (absolute, or ``..`` above it)."""
    if text.startswith(("/", "\\")) or _DRIVE.match(text):
        return None
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def normalize_time(text: str) -> str | None:
    """An ISO 8601 time as the store writes it (UTC, milliseconds, ``Z``); a time without a
    zone is taken as UTC. None when it is not one."""
    if _STORE_TIME.match(text):  # already as the store writes it (a tui-label export)
        try:
            datetime.fromisoformat(text[:-1])  # a real date and time (no 2024-13-45)
            return text
        except ValueError:
            return None
    when = parse_iso(text)
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _row(where: str, path, label, annotator=None, labeled_at=None, *,
         sets: bool = False) -> Row | BadRow:
    """A parsed row checked: a path and at most one label (with ``sets``, a list of them, or
    one), a time that is a time.

    Raises:
        UsageError: the path lies outside the dataset root.
    """
    if not isinstance(path, str) or not path:
        return BadRow(where, "no path")
    labels = None
    if isinstance(label, list):
        if not sets:
            return BadRow(where, "a list of labels, but this database is single-label (import "
                                 "--multi-label switches it to multi-label mode)")
        labels = _label_set(label)
        if isinstance(labels, str):
            return BadRow(where, labels)
        label = None
    elif sets and isinstance(label, str) and label.strip():
        labels, label = frozenset((label.strip(),)), None
    if label is not None and not isinstance(label, str):
        return BadRow(where, f"the label must be text, not {json.dumps(label)}")
    if annotator is not None and not isinstance(annotator, str):
        return BadRow(where, "the annotator must be text")
    normalized = normalize_path(path)
    if normalized is None:
        raise UsageError(f"{where}: path {path!r} lies outside the dataset root (absolute, or "
                         "'..' above it): nothing imported")
    if not normalized:
        return BadRow(where, f"path {path!r} names no file")
    when = None
    if labeled_at not in (None, ""):
        when = normalize_time(labeled_at) if isinstance(labeled_at, str) else None
        if when is None:
            return BadRow(where, f"labeled_at {labeled_at!r} is not an ISO 8601 time")
    label = label.strip() if label else None
    return Row(where, normalized, label or None, annotator or None, when, labels=labels)


def _label_set(names: list) -> frozenset[str] | str:
    """A list of class names as a set, or why it is not one."""
    if all(type(name) is str and name and not name[0].isspace() and not name[-1].isspace()
           for name in names):
        return frozenset(names)  # the usual case, as tui-label exports it
    found = set()
    for name in names:
        if not isinstance(name, str):
            return f"the labels must be text, not {json.dumps(name)}"
        if not name.strip():
            return f"an empty class name in the labels {json.dumps(names)[:200]}"
        found.add(name.strip())
    return frozenset(found)


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
                yield _row(where, record[path_i], label,
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
                yield _row(where, obj[source.path_column], obj.get(source.label_column),
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


class DatasetIndex:
    """The store's images by path, with each one's current class (a label's, else None; with
    ``sets``, the label's set of class ids)."""

    def __init__(self, store, *, sets: bool = False) -> None:
        self.ids: dict[str, int] = {}
        self.current: dict[int, int | frozenset[int] | None] = {}
        for image_id, path, action, class_id, classes in store.label_states():
            self.ids[path] = image_id
            if action != "label":
                self.current[image_id] = None
            elif sets:
                self.current[image_id] = ImageState.of(action, class_id, classes).classes
            else:
                self.current[image_id] = class_id
        self._names: dict[str, int | None] | None = None

    def find(self, row: Row) -> int | None:
        """The image a row names, or None."""
        image_id = self.ids.get(row.path)
        if image_id is None and row.fallback_name is not None:
            if self._names is None:
                self._names = {}
                for path, i in self.ids.items():
                    name = path.rsplit("/", 1)[-1]
                    self._names[name] = None if name in self._names else i  # None: ambiguous
            image_id = self._names.get(row.fallback_name)
        return image_id


def outcome(current: int | frozenset[int] | None, wanted: int | frozenset[int],
            overwrite: bool) -> str:
    """What importing class ``wanted`` (or set of classes) does to an image whose current class
    (or set) is ``current``: ``new``, ``unchanged``, ``changed`` (overwritten) or ``conflict``
    (kept)."""
    if current is None:
        return "new"
    if current == wanted:
        return "unchanged"
    return "changed" if overwrite else "conflict"


@dataclass
class Summary:
    """What an import found (the plan) or did (after apply)."""

    source: str
    format: str
    applied: bool = False
    multi_label: bool = False  # labels read as sets of classes
    switches_mode: bool = False  # --multi-label on a single-label database
    rows: int = 0
    new: int = 0
    changed: int = 0  # different label replaced (--on-conflict overwrite)
    conflicts: int = 0  # different label kept (--on-conflict skip)
    unchanged: int = 0
    no_label: int = 0
    repeated: int = 0  # rows for a path an earlier row named
    unknown_rows: int = 0
    unknown_classes: dict[str, int] = field(default_factory=dict)
    created_classes: list[str] = field(default_factory=list)
    not_found: int = 0
    not_found_examples: list[str] = field(default_factory=list)
    bad_rows: int = 0
    bad_examples: list[str] = field(default_factory=list)
    conflict_examples: list[str] = field(default_factory=list)
    batches: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Resolved:
    """A row that names a known image and a known (or to be created) class."""

    image_id: int
    class_names: frozenset[str]  # one name unless multi-label
    annotator: str | None
    labeled_at: str | None
    where: str
    path: str


class Importer:
    """Plan and apply one import into ``store``.

    Args:
        store: an open, writable ``Store`` (only ``apply`` writes).
        source: from ``open_source``.
        on_conflict: ``skip`` keeps an existing different label, ``overwrite`` replaces it.
        create_classes: create classes the store lacks (else their rows are skipped).
        annotator: recorded for rows without one (the importing user).
        batch_size: rows per transaction.
        multi_label: read labels as sets, and switch a single-label database to multi-label
            mode when writing (a multi-label database reads sets without it).
    """

    def __init__(self, store, source: Source, *, on_conflict: str = "skip",
                 create_classes: bool = False, annotator: str | None = None,
                 batch_size: int = BATCH_SIZE, multi_label: bool = False) -> None:
        if on_conflict not in ("skip", "overwrite"):
            raise UsageError(f"--on-conflict must be skip or overwrite, not {on_conflict!r}")
        if batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        self.store = store
        self.source = source
        self.overwrite = on_conflict == "overwrite"
        self.create_classes = create_classes
        self.annotator = annotator or store.annotator
        self.batch_size = batch_size
        in_mode = store.multi_label
        self.switch_mode = multi_label and not in_mode
        self.sets = multi_label or in_mode
        self.source = dataclasses.replace(source, sets=self.sets)
        self.index = DatasetIndex(store, sets=self.sets)
        self.classes = {c.name: c.id for c in store.classes()}
        self.planned: Summary | None = None
        self.progress: Summary | None = None  # what apply has written so far

    def _resolved(self, summary: Summary) -> Iterator[Resolved]:
        """The source's rows that can be imported; the others counted in ``summary``."""
        seen: set[int] = set()
        for row in read_rows(self.source):
            summary.rows += 1
            if isinstance(row, BadRow):
                summary.bad_rows += 1
                if len(summary.bad_examples) < SAMPLES:
                    summary.bad_examples.append(str(row))
                continue
            names = row.names()
            if names is None:
                summary.no_label += 1
                continue
            if (not self.sets and SET_SEPARATOR in row.label
                    and row.label not in self.classes):
                summary.bad_rows += 1
                if len(summary.bad_examples) < SAMPLES:
                    summary.bad_examples.append(
                        f"{row.where}: label {row.label!r} holds {SET_SEPARATOR!r} and is no "
                        "class; sets of classes need a multi-label database (import "
                        "--multi-label switches it)")
                continue
            image_id = self.index.find(row)
            if image_id is None:
                summary.not_found += 1
                if len(summary.not_found_examples) < SAMPLES:
                    summary.not_found_examples.append(row.path)
                continue
            unknown = [name for name in names if name not in self.classes]
            for name in unknown:
                summary.unknown_classes[name] = summary.unknown_classes.get(name, 0) + 1
            if unknown and not self.create_classes:
                summary.unknown_rows += 1
                continue
            if image_id in seen:
                summary.repeated += 1
            seen.add(image_id)
            yield Resolved(image_id, names, row.annotator, row.labeled_at, row.where, row.path)

    def _wanted(self, names: frozenset[str], ids: dict[str, int]) -> int | frozenset[int]:
        """The class (or, multi-label, the set of class ids) a row asks for."""
        if self.sets:
            return frozenset(map(ids.__getitem__, names))
        (name,) = names
        return ids[name]

    def _describe(self, state: int | frozenset[int] | None, names: dict[int, str]) -> str:
        if not self.sets:
            return names.get(state, "?")
        if not state:
            return "(no class)"
        return SET_SEPARATOR.join(names.get(c, "?") for c in self._ordered(state))

    def _ordered(self, ids: frozenset[int]) -> list[int]:
        position = {cid: n for n, cid in enumerate(self.classes.values())}
        return sorted(ids, key=lambda c: (position.get(c, len(position)), c))

    def plan(self) -> Summary:
        """Read the whole source and say what ``apply`` would do; writes nothing.

        Raises:
            UsageError: a malformed file, or a path outside the dataset root.
        """
        summary = self._summary(applied=False)
        current = dict(self.index.current)  # as the rows before this one leave it
        ids = dict(self.classes)  # and classes to be created, by negative ids
        for item in self._resolved(summary):
            for name in item.class_names:
                if name not in ids:
                    ids[name] = -1 - (len(ids) - len(self.classes))
            wanted = self._wanted(item.class_names, ids)
            result = outcome(current[item.image_id], wanted, self.overwrite)
            self._count(summary, result, item, current[item.image_id])
            if result in ("new", "changed"):
                current[item.image_id] = wanted
        if self.create_classes:
            summary.created_classes = sorted(summary.unknown_classes)
        self.planned = summary
        return summary

    def _summary(self, *, applied: bool) -> Summary:
        return Summary(str(self.source.path), self.source.fmt, applied=applied,
                       multi_label=self.sets, switches_mode=self.switch_mode)

    def _count(self, summary: Summary, result: str, item: Resolved,
               before: int | frozenset[int] | None) -> None:
        setattr(summary, result if result != "conflict" else "conflicts",
                getattr(summary, result if result != "conflict" else "conflicts") + 1)
        if result in ("conflict", "changed") and len(summary.conflict_examples) < SAMPLES:
            names = {v: k for k, v in self.classes.items()}
            wanted = (SET_SEPARATOR.join(sorted(item.class_names, key=self._position))
                      or "(no class)") if self.sets else next(iter(item.class_names))
            summary.conflict_examples.append(
                f"{item.path}: {self._describe(before, names)} in the store, {wanted} in "
                f"the file ({item.where})")

    def _position(self, name: str) -> tuple[int, str]:
        ids = list(self.classes)
        return (ids.index(name) if name in self.classes else len(ids), name)

    def apply(self, *, on_batch: Callable[[Summary], None] | None = None) -> Summary:
        """Read the source again and write it, ``batch_size`` rows per transaction. Call
        ``plan`` first: it is what checks the whole file before anything is written.

        Raises:
            UsageError: the import stopped part way (the source changed since the plan, or a
                write failed): the batches before it are stored, the one in progress is not.
        """
        if self.planned is None:
            raise RuntimeError("plan() checks the source before apply() writes it")
        summary = self.progress = self._summary(applied=True)
        if self.switch_mode:
            self.store.set_multi_label()
        unknown = self.planned.created_classes
        if unknown:
            for row in self.store.add_classes(unknown, free_hotkeys(self.store)):
                self.classes[row.name] = row.id
            summary.created_classes = unknown
        batch: list[Resolved] = []
        try:
            for item in self._resolved(summary):
                batch.append(item)
                if len(batch) >= self.batch_size:
                    self._write(batch, summary)
                    batch = []
                    if on_batch is not None:
                        on_batch(summary)
            if batch:
                self._write(batch, summary)
        except Exception as exc:
            done = summary.new + summary.changed
            message = str(exc) if isinstance(exc, UsageError) else f"{type(exc).__name__}: {exc}"
            raise UsageError(
                f"import stopped in batch {summary.batches + 1} ({message}); the "
                f"{summary.batches} batches before it are stored ({done} labels), that one is "
                "not: the same import again completes it") from exc
        return summary

    def _write(self, batch: list[Resolved], summary: Summary) -> None:
        if summary.bad_rows > self.planned.bad_rows:
            raise UsageError(f"{summary.bad_examples[-1]}: the source changed since it was "
                             "checked")
        missing = {name for item in batch for name in item.class_names} - set(self.classes)
        if missing:
            raise UsageError(f"class {sorted(missing)[0]!r} is new since the source was "
                             "checked")
        rows = [(item.image_id, self._wanted(item.class_names, self.classes),
                 item.annotator or self.annotator, item.labeled_at) for item in batch]
        results = self.store.import_labels(
            rows, lambda current, wanted: outcome(current, wanted, self.overwrite),
            sets=self.sets)
        for item, row, (result, before) in zip(batch, rows, results, strict=True):
            self._count(summary, result, item, before)
            if result in ("new", "changed"):
                self.index.current[item.image_id] = row[1]
        summary.batches += 1


def free_hotkeys(store) -> list[str]:
    """The default hotkeys no class and no labeler key uses, in order."""
    from tui_label.core.keys import DEFAULT_HOTKEYS, reserved_keys

    reserved = reserved_keys()
    taken = {c.hotkey for c in store.classes()}
    return [k for k in DEFAULT_HOTKEYS if k not in reserved and k not in taken]


def _names(names: list[str], *, quote: bool = True, most: int = 10) -> str:
    shown = ", ".join(repr(n) if quote else n for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def describe(summary: Summary) -> list[str]:
    """The summary as lines for a person."""
    done = summary.applied
    lines = [f"{'Imported' if done else 'Dry run, nothing changed'}: {summary.source} "
             f"({summary.format}, {summary.rows:,} rows)"]
    if summary.switches_mode:
        lines.append("  the database " + ("is now" if done else "would switch to")
                     + " multi-label mode (labels read as sets of classes)")
    elif summary.multi_label:
        lines.append("  multi-label: labels read as sets of classes")

    def line(label: str, n: int, note: str = "") -> None:
        lines.append(f"  {label:<24}{n:>10,}" + (f"  {note}" if note else ""))

    line("new labels", summary.new)
    line("changed labels", summary.changed,
         "existing different labels replaced (--on-conflict overwrite)" if summary.changed
         else "")
    if summary.changed:  # the examples are of the replaced labels, listed under them
        lines.extend(f"    {example}" for example in summary.conflict_examples)
    line("conflicts kept", summary.conflicts,
         "existing different labels kept; --on-conflict overwrite replaces them"
         if summary.conflicts else "")
    if not summary.changed:
        lines.extend(f"    {example}" for example in summary.conflict_examples)
    line("unchanged", summary.unchanged)
    if summary.no_label:
        line("rows without a label", summary.no_label, "not imported")
    if summary.repeated:
        line("repeated paths", summary.repeated, "a later row for an image applies after "
             "the earlier one")
    if summary.created_classes:
        line("classes created" if done else "classes to create", len(summary.created_classes),
             _names(summary.created_classes))
    elif summary.unknown_classes:
        counted = [f"{name!r} ({n:,})" for name, n in sorted(summary.unknown_classes.items())]
        line("unknown classes, skipped", summary.unknown_rows,
             f"rows: {_names(counted, quote=False)}; --create-classes creates them")
    if summary.not_found:
        line("not in the dataset", summary.not_found,
             "e.g. " + ", ".join(summary.not_found_examples))
    if summary.bad_rows:
        line("cannot be parsed", summary.bad_rows)
        for example in summary.bad_examples:
            lines.append(f"    {example}")
    if done:
        batches = f"{summary.batches} batch" + ("es" if summary.batches != 1 else "")
        lines.append(f"  {batches} written as label events (source 'import')")
    return lines

"""``tui-label export``: labels as CSV, JSON lines, an ImageFolder tree or the Hugging Face
``imagefolder`` layout.

What is exported: each image's current label, one annotator's own latest labels, or only the
labels two or more annotators agree on; each with its stored train/validation split.

Promises: an export never writes onto the database it reads (nor its ``-wal``/``-shm`` files,
nor any other SQLite file), nor inside the dataset folder, and never clobbers a file or a
non-empty folder without ``--force``; a failed export leaves no half-written result (a file or
folder is written beside the target under a temporary name, then renamed); and no class or
file name writes outside the output folder (``safe_name``).

CSV cells that a spreadsheet would run as a formula get a leading single quote, as OWASP
recommends against CSV injection. JSON lines and the Hugging Face ``metadata.csv`` stay raw:
they are read by programs, which must see the class names as stored.

Multi-label databases (``multi_label``: the mode is set, or any event holds a set of classes):
``label`` is a list of class names in class order for JSON lines and the Hugging Face layout
(``[]``: labeled, none of the classes; a skipped image's is ``null``), and the names joined by
``;`` in a CSV (the empty set is an empty cell, so a CSV of a multi-label database cannot also
list skipped images, and a class whose name holds ``;`` is refused: JSON lines hold it). The
Hugging Face layout then writes ``metadata.jsonl`` (its list column is read by ``datasets`` as
a list; a CSV cell would be one string) with the images in folders of ``HF_FOLDER_SIZE``.
ImageFolder has one class per image: refused for a multi-label database.
No textual, no torch.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from tui_label.errors import UsageError

FIELDS = ("path", "label", "annotator", "labeled_at", "split")
PREDICTION_FIELDS = ("predicted", "confidence")  # with --with-predictions
FORMATS = ("csv", "jsonl", "imagefolder", "hf")
FOLDER_FORMATS = ("imagefolder", "hf")
# The Hugging Face metadata.csv: file_name (relative to the metadata file) is required.
HF_FIELDS = ("file_name", "label", "split", "path", "annotator", "labeled_at")
HF_METADATA = "metadata.csv"
HF_METADATA_JSONL = "metadata.jsonl"  # multi-label: lists stay lists
HF_FOLDER_SIZE = 1_000  # multi-label hf: images per folder (no class folders for sets)
SET_SEPARATOR = ";"  # between the class names of a set in a CSV cell
# Split folders, as stored (torchvision's habit; the Hugging Face loader reads "val" as its
# validation split). An image without a stored split goes to train/ once any split exists.
TRAIN, VAL = "train", "val"
# Room for a "-N" suffix under the usual 255-byte limit on a file name.
MAX_NAME_BYTES = 200
# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("", "-wal", "-shm", "-journal")
# Path separators (both kinds), NUL and every other control character (newlines included).
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")
T = TypeVar("T")


# --- what is exported -------------------------------------------------------------------------


def multi_label(store) -> bool:
    """Whether ``store`` is exported as multi-label: the mode is set, or an event holds a set
    (older single labels then read as sets of one)."""
    return store.multi_label or store.has_class_sets()


def select_rows(store, *, annotator: str | None = None, agreed: bool = False,
                include_skipped: bool = False, sets: bool = False) -> list[dict]:
    """The rows to export, by path: ``path, label, annotator, labeled_at, split``.

    By default each image's current label; with ``annotator``, that annotator's own latest
    label of each image (their undo events and the events they undid left out); with
    ``agreed``, the images two or more annotators labeled alike (``annotator`` lists them,
    ``labeled_at`` is the latest; sets agree when equal). ``split`` is the stored split,
    ``''`` where none. With ``sets`` (multi-label), ``label`` is the list of class names in
    class order (None for a skip); else the class name (``''`` for a skip).

    Raises:
        UsageError: both filters, or an annotator with no events.
    """
    if agreed and annotator is not None:
        raise UsageError("give --annotator or --agreed, not both")
    if agreed:
        raw = store.agreed_rows()
    else:
        if annotator is not None and annotator not in store.annotators():
            known = ", ".join(store.annotators()) or "none yet"
            raise UsageError(f"no labels by annotator {annotator!r} (annotators: {known})")
        raw = store.export_rows(annotator=annotator)
    names = _set_names(store) if sets else None
    rows = []
    for path, action, name, who, created_at, split, classes in raw:
        if action != "label" and not include_skipped:
            continue
        if agreed:
            who = ",".join(sorted(who.split("\x1f")))
        label = (None if classes is None else names(classes)) if names else name or ""
        rows.append({"path": path, "label": label, "annotator": who,
                     "labeled_at": created_at, "split": split})
    return rows


def _set_names(store) -> Callable[[str], list[str]]:
    """A set's JSON (``[1,3]``) to its class names in class order; each distinct set is
    parsed once (a dataset has few)."""
    order = {c.id: (n, c.name) for n, c in enumerate(store.classes())}
    seen: dict[str, list[str]] = {}

    def names(classes: str) -> list[str]:
        found = seen.get(classes)
        if found is None:
            found = seen[classes] = [
                name for _, name in sorted(order.get(cid, (len(order) + cid, f"#{cid}"))
                                           for cid in json.loads(classes))]
        return found

    return names


def join_sets(rows: Iterable[Mapping[str, object]]) -> list[dict]:
    """Multi-label rows for a CSV: each ``label`` list joined by ``;``.

    Raises:
        UsageError: a class name holds ``;`` (it would read as two classes), or a row is a
            skip (an empty cell is the empty set).
    """
    out = []
    for row in rows:
        label = row["label"]
        if label is None:
            raise UsageError("a CSV of a multi-label database cannot list skipped images (an "
                             "empty label cell is the empty set): use --format jsonl")
        for name in label:
            if SET_SEPARATOR in name:
                raise UsageError(f"class {name!r} holds {SET_SEPARATOR!r}, which separates "
                                 "the classes of a set in a CSV: rename it, or export "
                                 "--format jsonl or hf")
        out.append({**row, "label": SET_SEPARATOR.join(label)})
    return out


# --- names that stay inside the output folder ---------------------------------------------


def safe_name(name: str) -> str:
    """``name`` as one harmless path component: separators, NUL and control characters
    (newlines) become ``_``, a leading ``-`` (an option to a shell tool) or ``.`` (hidden,
    ``..``) becomes ``_``, an empty name is ``_``, and it is cut to ``MAX_NAME_BYTES`` bytes
    (keeping a short extension). An absolute path or ``../x`` thus stays one name."""
    safe = _UNSAFE.sub("_", name)
    if safe[:1] in ("-", "."):
        safe = "_" + safe[1:]
    if len(safe.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        stem, ext = _split_ext(safe)
        room = MAX_NAME_BYTES - len(ext.encode("utf-8", "surrogateescape"))
        stem = stem.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
        safe = stem + ext
    return safe or "_"


def _split_ext(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    return (stem, ext) if stem and len(ext) <= 16 else (name, "")


class UniqueNames:
    """Safe names in one folder, never two alike: a name taken already (ignoring case, for
    case-insensitive file systems) gets ``-2``, ``-3``... before its extension."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._taken = {name.casefold() for name in reserved}
        self._next: dict[str, int] = {}

    def claim(self, name: str, *, keep_ext: bool = True) -> str:
        """A new safe name for ``name`` in this folder."""
        base = safe_name(name)
        if base.casefold() not in self._taken:
            self._taken.add(base.casefold())
            return base
        stem, ext = _split_ext(base) if keep_ext else (base, "")
        n = self._next.get(base.casefold(), 1)
        while True:
            n += 1
            candidate = f"{stem}-{n}{ext}"
            if candidate.casefold() not in self._taken:
                break
        self._next[base.casefold()] = n
        self._taken.add(candidate.casefold())
        return candidate


def neutralize(value: object) -> object:
    """``value`` with a ``'`` in front when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_csv(rows: Iterable[Mapping[str, object]], out: TextIO,
              fields: Sequence[str] = FIELDS) -> None:
    """Rows as CSV with a header; every text cell neutralized."""
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: neutralize(value) for key, value in row.items()})


def write_jsonl(rows: Iterable[Mapping[str, object]], out: TextIO) -> None:
    """Rows as one JSON object per line, values as stored."""
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


def add_predictions(rows: list[dict], store) -> None:
    """Add each row's predicted class and its probability (``predicted``, ``confidence``)
    from the latest predicted run, in place; empty for an image it did not predict or a
    class it predicts that no longer exists.

    Raises:
        UsageError: no run has predictions yet.
    """
    run = store.latest_predicted_run()
    if run is None:
        raise UsageError("no predictions yet: train a run (it predicts at its end) or run "
                         "tui-label predict")
    names = {c.id: c.name for c in store.classes()}
    ids = store.image_ids()
    predicted = store.predictions(run["id"], "model")
    for row in rows:
        p = predicted.get(ids.get(row["path"]))
        known = p is not None and p["class_id"] in names
        row["predicted"] = names[p["class_id"]] if known else ""
        row["confidence"] = round(p["probability"], 4) if known else ""


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _database_inside(folder: Path) -> Path | None:
    """An SQLite file anywhere under ``folder`` (symlinks not followed: replacing the folder
    removes links, not what they point at), or None."""
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink() and _is_sqlite(path):
                return path
    return None


def check_output(output: Path, db: Path, *, force: bool, root: Path | None = None,
                 folder: bool = False) -> None:
    """Refuse an output that is the database, one of its files, an SQLite file, inside the
    dataset folder ``root``, or (without ``force``) an existing file. A ``folder`` output may
    be an empty folder; a non-empty one needs ``force``, and one that holds the dataset or the
    database is refused (replacing it would delete them). A file output may not be a folder.

    Raises:
        UsageError: with a one-line reason.
    """
    db_files = [Path(f"{db}{suffix}") for suffix in _SIDECARS]
    # Resolved names catch a relative path, ``..`` and symlinked folders; samefile below
    # catches hard links and case-insensitive file systems.
    resolved = output.resolve()
    if any(resolved == path.resolve() for path in db_files):
        raise UsageError(f"refusing to write the export onto the database {db}")
    if root is not None and resolved.is_relative_to(root.resolve()):
        raise UsageError(f"refusing to write the export inside the dataset folder {root}")
    if folder:
        for what, held in (("dataset folder", root), ("database", db)):
            if held is not None and held.resolve().is_relative_to(resolved):
                raise UsageError(f"refusing to replace {output}: it holds the {what} {held}")
    if not os.path.lexists(output):
        return
    for path in db_files:
        try:
            if os.path.samefile(output, path):
                raise UsageError(f"refusing to write the export onto the database {db}")
        except OSError:  # that file does not exist (or the output is a dangling link)
            continue
    if output.is_dir():
        if not folder:
            raise UsageError(f"{output} is a folder: give a file name (or --format "
                             "imagefolder or hf)")
        if not any(os.scandir(output)):
            return
        if not force:
            raise UsageError(f"{output} is a folder with files in it: pass --force to replace "
                             "it")
        held = _database_inside(output)
        if held is not None:
            raise UsageError(f"refusing to replace {output}: it holds the SQLite database "
                             f"{held}")
        return
    if _is_sqlite(output):
        raise UsageError(f"{output} is an SQLite database: refusing to overwrite it")
    if not force:
        raise UsageError(f"{output} exists: pass --force to overwrite it")


def write_atomically(output: Path, write: Callable[[TextIO], None]) -> None:
    """Write ``output`` through a temporary file in the same folder, renamed into place only
    once complete, so a failure leaves the old file (or none) and never a partial one.

    Raises:
        UsageError: the folder is missing or not writable, or the write fails.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _mode_for(output))
        os.replace(tmp, output)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        raise


def _mode_for(output: Path) -> int:
    """An overwritten file keeps its permissions; a new one gets the usual ``0666 & ~umask``
    (mkstemp's 0600 would surprise whoever shares the export)."""
    try:
        return stat.S_IMODE(os.stat(output).st_mode)
    except OSError:
        return _new_mode(0o666)


def _new_mode(mode: int) -> int:
    """``mode`` less the umask, as a freshly made file or folder gets (mkdtemp's 0700 would
    surprise whoever shares the export)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


# --- folder formats ---------------------------------------------------------------------------


@dataclass
class FolderExport:
    """What a folder export wrote and left out."""

    written: int = 0
    not_found: int = 0  # no such file under the dataset folder now
    outside: int = 0  # a stored path that leads out of the dataset folder


def write_folder_atomically(output: Path, build: Callable[[Path], T]) -> T:
    """Build a folder export in a temporary folder beside ``output`` and rename it into place
    once complete; an existing ``output`` (checked by ``check_output``) is moved aside first
    and deleted after (its symlinks are removed, never followed). A failure leaves the old
    output (or none) and no temporary folder.

    Raises:
        UsageError: the parent folder is missing or not writable, or a write fails.
    """
    try:
        tmp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"))
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    try:
        result = build(tmp)
        os.chmod(tmp, _new_mode(0o777))
        _replace_folder(tmp, output)
        return result
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        raise


def _replace_folder(new: Path, output: Path) -> None:
    if not os.path.lexists(output) or (output.is_dir() and not output.is_symlink()
                                       and not any(os.scandir(output))):
        os.replace(new, output)  # a rename replaces an empty folder
        return
    trash = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".old"))
    old = trash / "old"
    os.rename(output, old)
    try:
        os.rename(new, output)
    except BaseException:
        os.rename(old, output)
        trash.rmdir()
        raise
    shutil.rmtree(trash, ignore_errors=True)


def write_imagefolder(tmp: Path, rows: Sequence[Mapping[str, object]], root: Path, *,
                      copy: bool = False) -> FolderExport:
    """``CLASS/FILE`` per labeled image, or ``train/CLASS/FILE`` and ``val/CLASS/FILE`` once
    any image has a stored split (those without one go to train/; every class gets a folder
    in both, so class indices agree between them). Files are symlinks to the images (absolute
    targets), or copies."""
    split_layout = any(row["split"] for row in rows)
    classes = _class_folders(row["label"] for row in rows)
    splits = (TRAIN, VAL) if split_layout else ("",)
    for split in splits:
        for name in classes.values():
            os.makedirs(os.path.join(tmp, split, name))
    names: dict[str, UniqueNames] = {}
    summary = FolderExport()
    for row in rows:
        folder = os.path.join(tmp, _split_folder(row, split_layout), classes[row["label"]])
        source = _source(root, row["path"], summary)
        if source is None:
            continue
        name = names.setdefault(folder, UniqueNames()).claim(_basename(row["path"]))
        _place(source, os.path.join(folder, name), copy)
        summary.written += 1
    return summary


def write_hf(tmp: Path, rows: Sequence[Mapping[str, object]], root: Path, *,
             copy: bool = False, extra_fields: Sequence[str] = (),
             sets: bool = False) -> FolderExport:
    """The Hugging Face ``imagefolder`` layout: a ``metadata.csv`` (``file_name, label, split,
    path, annotator, labeled_at``) with the images in a folder per class beside it
    (``file_name`` is ``CLASS/FILE``), in ``OUT/``, or in ``train/`` and ``val/`` once any
    image has a stored split. ``load_dataset("imagefolder", data_dir=OUT)`` reads it; with a
    metadata file it takes ``label`` from it (the class name as stored, a string column), not
    from the folders. Folders per class keep each folder small: file creation in one folder of
    100,000 entries is several times slower, and the Hub takes at most 10,000 per folder.

    With ``sets`` (multi-label rows: ``label`` a list of names), the metadata is
    ``metadata.jsonl``, where ``label`` stays a list (``datasets`` reads it as a sequence of
    strings), and the images go in numbered folders of ``HF_FOLDER_SIZE`` (``0000/FILE``):
    an image of several classes has no one class folder."""
    if sets:
        return _write_hf_sets(tmp, rows, root, copy=copy, extra_fields=extra_fields)
    split_layout = any(row["split"] for row in rows)
    classes = _class_folders((row["label"] for row in rows), reserved=[HF_METADATA])
    names: dict[str, UniqueNames] = {}
    metadata: dict[str, list[dict]] = {}
    summary = FolderExport()
    for split in (TRAIN, VAL) if split_layout else ("",):
        os.makedirs(os.path.join(tmp, split), exist_ok=True)
        metadata[split] = []
    made: set[str] = set()
    for row in rows:
        split = _split_folder(row, split_layout)
        folder = os.path.join(tmp, split, classes[row["label"]])
        source = _source(root, row["path"], summary)
        if source is None:
            continue
        if folder not in made:
            os.mkdir(folder)
            made.add(folder)
        name = names.setdefault(folder, UniqueNames()).claim(_basename(row["path"]))
        _place(source, os.path.join(folder, name), copy)
        metadata[split].append({"file_name": f"{classes[row['label']]}/{name}", **row})
        summary.written += 1
    for split, entries in metadata.items():
        with open(os.path.join(tmp, split, HF_METADATA), "w", newline="",
                  encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=HF_FIELDS + tuple(extra_fields))
            writer.writeheader()
            # NUL cannot be in a file name, and csv before Python 3.11 cannot write it: a
            # class name holding one loses it here.
            writer.writerows({k: v.replace("\0", "") if isinstance(v, str) else v
                              for k, v in entry.items()} for entry in entries)
    return summary


def _write_hf_sets(tmp: Path, rows: Sequence[Mapping[str, object]], root: Path, *,
                   copy: bool, extra_fields: Sequence[str]) -> FolderExport:
    split_layout = any(row["split"] for row in rows)
    fields = HF_FIELDS + tuple(extra_fields)
    metadata: dict[str, list[str]] = {}
    names: dict[str, UniqueNames] = {}
    summary = FolderExport()
    for split in (TRAIN, VAL) if split_layout else ("",):
        os.makedirs(os.path.join(tmp, split), exist_ok=True)
        metadata[split] = []
    for row in rows:
        split = _split_folder(row, split_layout)
        source = _source(root, row["path"], summary)
        if source is None:
            continue
        entries = metadata[split]
        part = f"{len(entries) // HF_FOLDER_SIZE:04d}"
        folder = os.path.join(tmp, split, part)
        if len(entries) % HF_FOLDER_SIZE == 0:
            os.mkdir(folder)
        name = names.setdefault(folder, UniqueNames()).claim(_basename(row["path"]))
        _place(source, os.path.join(folder, name), copy)
        entry = {"file_name": f"{part}/{name}", **row}
        if entry.get("confidence") == "":  # no prediction: null, as a number column's
            entry["confidence"] = None
        entries.append(json.dumps({key: entry.get(key) for key in fields},
                                  ensure_ascii=False))
        summary.written += 1
    for split, lines in metadata.items():
        with open(os.path.join(tmp, split, HF_METADATA_JSONL), "w", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)
    return summary


def _class_folders(labels: Iterable[object], reserved: Iterable[str] = ()) -> dict[str, str]:
    """Each class name's folder name, unique once made safe (claimed in name order, so the
    same names always get the same folders)."""
    unique = UniqueNames(reserved)
    return {label: unique.claim(label, keep_ext=False) for label in sorted(set(map(str, labels)))}


def _split_folder(row: Mapping[str, object], split_layout: bool) -> str:
    if not split_layout:
        return ""
    return VAL if row["split"] == VAL else TRAIN


def _basename(path: object) -> str:
    return str(path).rsplit("/", 1)[-1]


def _source(root: Path, path: object, summary: FolderExport) -> str | None:
    """The image's file under ``root``, or None (counted) when its stored path leads out of
    ``root`` or the file is not there."""
    rel = os.path.normpath(str(path))
    if os.path.isabs(rel) or rel == ".." or rel.startswith("../") or "\0" in rel:
        summary.outside += 1
        return None
    source = os.path.join(root, rel)
    if not os.path.isfile(source):
        summary.not_found += 1
        return None
    return source


def _place(source: str, target: str, copy: bool) -> None:
    if copy:
        shutil.copyfile(source, target)
    else:
        os.symlink(source, target)

"""Getting a labeling run ready: check every input, then open the store and write.

The order matters. Every input (the classes from ``--classes`` or a ``tui-label.toml``, the
``--order`` against the classes the run will have, the folder's images) is checked before
anything is written or created, so a usage error leaves the database exactly as it was, and no
new database file or folder behind. A write that fails after that (disk full, a lock held past
the busy timeout, a read-only file) is a ``StoreWriteError``, a one-line usage error; the new
files and folders this call made are removed again.

No textual, no torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tui_label.config.labeler import LabelerOptions, toml_layer
from tui_label.config.settings import (
    ClassSpec,
    find_config,
    load_config_classes,
    parse_class_option,
    resolve_classes,
)
from tui_label.core import orders
from tui_label.core.orders import NamedClass, OrderChoice
from tui_label.core.types import ClassRow
from tui_label.errors import UsageError
from tui_label.media.scan import IMAGE_EXTENSIONS, ScannedFile, scan
from tui_label.store import Store, StoreWriteError

_SIDECARS = ("-wal", "-shm", "-journal")


class PlannedClass(NamedTuple):
    """A class as the run will have it, before it is stored (``id`` < 0 when new)."""

    id: int
    name: str


@dataclass
class Prepared:
    """A store ready for the labeler, and what the labeler needs to know about it."""

    store: Store
    order: OrderChoice
    rescan: bool  # False when this start-up has just scanned the folder
    # The arguments over the tui-label.toml over the stored share (``resolve_options``).
    settings: LabelerOptions | None = None
    overlap: float = 0.0  # the share of images meant for two annotators or more


AUTO_ORDER = "auto"  # --order's default: typical first until a run has predictions


def parse_order(text: str, classes: Sequence[NamedClass]) -> OrderChoice:
    """``--order`` checked against ``classes`` (rows with ``id`` and ``name``).

    Raises:
        UsageError: an unknown order, or a class that is not among ``classes``.
    """
    if orders.ORDERS.get(text.partition(":")[0]) is None:  # unknown: auto is a choice too
        raise UsageError(f"--order {text!r}: choose {AUTO_ORDER}, {orders.usage()}")
    return orders.parse(text, classes)


def class_specs(root: Path, db: Path, classes: str | None,
                stored: Sequence[ClassRow] = ()) -> list[ClassSpec] | None:
    """The classes the user asks for: ``--classes``, else a ``tui-label.toml``, else None
    (keep the database's). Validated, hotkeys assigned: a class among ``stored`` keeps its
    key (never changed behind the user's back), a new one gets the scheme's.

    Raises:
        UsageError: a bad class list or config file.
    """
    entries: list[tuple[str, str | None]] | None = None
    if classes is not None:
        entries = parse_class_option(classes)
    else:
        config = find_config(root, db)
        if config is not None:
            entries = load_config_classes(config)
    if entries is None:
        return None
    return resolve_classes(entries, {row.name: row.hotkey for row in stored if row.hotkey})


def resolve_options(cli: Mapping[str, Any], toml: Mapping[str, Any],
                    stored_overlap: float | None = None) -> LabelerOptions:
    """The labeler's options, field by field: the command line, then the ``tui-label.toml``,
    then what the database stores (the overlap share), then the default."""
    stored = {"overlap": stored_overlap} if stored_overlap is not None else None
    return LabelerOptions.resolve(cli, toml, stored)


def planned_classes(specs: Iterable[ClassSpec] | None,
                    stored: Sequence[ClassRow]) -> list[PlannedClass]:
    """The classes the database will hold once ``specs`` are stored: the named ones, then the
    stored ones not named (they keep their labels, without a hotkey)."""
    ids = {row.name: row.id for row in stored}
    planned = [PlannedClass(ids.get(spec.name, -1 - i), spec.name) for i, spec in
               enumerate(specs or ())]
    named = {p.name for p in planned}
    return planned + [PlannedClass(row.id, row.name) for row in stored if row.name not in named]


class NewFiles:
    """The database file and folders a start-up creates, so a failed start-up can take them
    back. Only what did not exist before is ever removed."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.folders = [p for p in reversed(db.parent.absolute().parents) if not p.exists()]
        if not db.parent.exists():
            self.folders.append(db.parent.absolute())
        self.existing = {s for s in _SIDECARS if os.path.lexists(f"{db}{s}")}
        self.made_file = False

    def create(self) -> None:
        """Make the folders and an empty database file (SQLite fills it in)."""
        try:
            self.db.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: only a file this call made is ever removed by ``remove``.
            os.close(os.open(self.db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            self.made_file = True
        except FileExistsError:
            pass  # made a moment ago by another process: theirs, never removed by us
        except OSError as exc:
            self.remove()
            raise UsageError(f"cannot create database {self.db}: {exc.strerror or exc}") from None

    def remove(self) -> None:
        """Remove the database file (with its -wal/-shm) and the folders this call made."""
        if self.made_file:
            for suffix in (*_SIDECARS, ""):
                if suffix not in self.existing:
                    Path(f"{self.db}{suffix}").unlink(missing_ok=True)
        for folder in reversed(self.folders):
            try:
                folder.rmdir()  # only when empty: never anything someone else put there
            except OSError:
                break


def resolve_order(order: str, store: Store | None) -> str:
    """``--order auto`` (the default): typical first until a run has predictions (the first
    labels spread over the data, by the images' pixels), then unlabeled first."""
    if order != AUTO_ORDER:
        return order
    return "typical" if store is None or store.latest_predicted_run() is None \
        else orders.DEFAULT


def prepare(root: Path, db: Path, classes: str | None, order: str,
            annotator: str | None = None, *, overlap: float | None = None,
            multi_label: bool = False) -> Prepared:
    """Check every input, then open (or create) the store, store the dataset root and the
    classes, and scan the folder on first use.

    Raises:
        UsageError: a bad input (nothing written, nothing created), or a write that failed
            at start-up (``StoreWriteError``: disk full, locked, read-only).
    """
    class_specs(root, db, classes)  # a bad class list is refused before anything is opened
    given = {"overlap": overlap, "multi_label": multi_label or None}  # None: not given
    toml = toml_layer(find_config(root, db))
    settings = resolve_options(given, toml)
    new = NewFiles(db)
    store = None
    try:
        if db.exists():
            # A current file opens without a write (an older one is upgraded first).
            store = Store(db, annotator=annotator, create=False)
        specs = class_specs(root, db, classes, store.classes() if store else ())
        order = resolve_order(order, store)
        files = _check(root, specs, order, store)
        # Every input is good: from here on, write.
        if store is None:
            new.create()
            store = Store(db, annotator=annotator)
        stored_overlap = _write(store, root, specs, files, settings)
        return Prepared(store, parse_order(order, store.classes()), rescan=files is None,
                        settings=resolve_options(given, toml, stored_overlap),
                        overlap=stored_overlap)
    except BaseException as exc:
        if store is not None:
            store.close()
        # A lock means another process has the file open: it is theirs now too.
        if not (isinstance(exc, StoreWriteError) and exc.kind == "locked"):
            new.remove()
        raise


def _check(root: Path, specs: list[ClassSpec] | None, order: str,
           store: Store | None) -> list[ScannedFile] | None:
    """Every input checked before anything is written: the classes, ``--order`` against the
    classes the run will have, and the folder's images (scanned when the database has none:
    returned; None when it has some).

    Raises:
        UsageError: no classes, a bad order, or no images.
    """
    stored, image_count = (store.classes(), store.image_count()) if store else ([], 0)
    if specs is None and not any(row.hotkey for row in stored):
        raise UsageError("no classes: pass --classes cat,dog,bird or add a tui-label.toml "
                         f"to {root}")
    choice = parse_order(order, planned_classes(specs, stored))
    if choice.order.needs_model and (store is None or store.latest_predicted_run() is None):
        raise UsageError(f"--order {order}: needs a model, and no run has predictions yet "
                         "(train one: T in the labeler, or tui-label train)")
    return None if image_count else scan_images(root)


def scan_images(root: Path) -> list[ScannedFile]:
    """The folder's images, for a database's first scan (``label``, and ``import`` into a new
    database).

    Raises:
        UsageError: no images in the folder.
    """
    files = list(scan(root))
    if not files:
        exts = ", ".join(sorted(e[1:] for e in IMAGE_EXTENSIONS))
        raise UsageError(f"no images found in {root} (looked for {exts}, recursively)")
    return files


def store_dataset(store: Store, root: Path, files: list[ScannedFile] | None) -> None:
    """Store the dataset root (the trainer reads images from it) and, on a first scan, its
    images; a lock or a read-only file shows now (``StoreWriteError``), not on the first key."""
    store.probe_write()
    if store.get_setting("root") != str(root):
        store.set_setting("root", str(root))
    if files is not None:
        store.sync_images(files)


def _write(store: Store, root: Path, specs: list[ClassSpec] | None,
           files: list[ScannedFile] | None, settings: LabelerOptions) -> float:
    """Store the dataset root, the classes, the images (a first scan), the overlap share and
    multi-label mode; returns the overlap share the database holds now."""
    store_dataset(store, root, files)
    if specs is not None:
        store.set_classes(specs)
    # The overlap share belongs to the dataset: one given (--overlap, else the toml) is
    # stored, and every labeler of the database follows the stored one.
    overlap = settings.overlap
    if overlap is not None and store.get_setting("overlap") != repr(overlap):
        store.set_setting("overlap", repr(overlap))
    # Multi-label mode belongs to the database too: once on (--multi-label or the toml),
    # every labeler and the trainer follow it; single labels read as sets of one.
    if settings.multi_label and not store.multi_label:
        store.set_multi_label()
    return float(store.get_setting("overlap") or 0)

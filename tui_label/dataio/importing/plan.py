"""The import engine: the dataset's images by path (``DatasetIndex``), what a row does to an
image (``outcome``), and ``Importer``, which plans an import (writes nothing) and applies it in
batches, one transaction each."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

from tui_label.core.keys import assign_hotkeys
from tui_label.core.types import ImageState
from tui_label.dataio.importing.formats import BATCH_SIZE
from tui_label.dataio.importing.readers import Source, read_rows
from tui_label.dataio.importing.rows import SET_SEPARATOR, BadRow, Row
from tui_label.errors import UsageError

SAMPLES = 5  # examples kept of each kind of problem


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
            for row in self.store.add_classes(unknown, free_hotkeys(self.store, unknown)):
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


def free_hotkeys(store, names: Sequence[str]) -> list[str | None]:
    """Hotkeys for the new classes ``names``, none that a class or a labeler key has: the
    scheme of ``tui_label.core.keys.assign_hotkeys`` (a one-character name gets its own key)."""
    return assign_hotkeys(names, {c.hotkey for c in store.classes() if c.hotkey})



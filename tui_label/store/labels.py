"""The label log: classes, the append-only events (label, skip, clear, undo), each image's
current state and the counts, and the import of many labels in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tui_label.config.settings import ClassSpec
from tui_label.core.times import now_iso
from tui_label.core.types import UNLABELED, ClassRow, Counts, ImageState, UndoResult
from tui_label.store.errors import UndoConflict
from tui_label.store.images import ImagesMixin
from tui_label.store.sql import classes_json


class LabelsMixin(ImagesMixin):
    # -- classes ---------------------------------------------------------------------------

    def classes(self) -> list[ClassRow]:
        """All classes in their stable order; those with a hotkey first."""
        rows = self.conn.execute(
            "SELECT id, name, hotkey, position FROM classes ORDER BY hotkey IS NULL, position"
        )
        return [ClassRow(*row) for row in rows]

    def set_classes(self, specs: Sequence[ClassSpec]) -> list[ClassRow]:
        """Make ``specs`` the offered classes, in order. Classes not named keep their labels
        but lose their hotkey."""
        with self._write():
            self.conn.execute("UPDATE classes SET hotkey = NULL")
            for position, spec in enumerate(specs):
                self.conn.execute(
                    "INSERT INTO classes (name, hotkey, position) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET hotkey = excluded.hotkey, "
                    "position = excluded.position",
                    (spec.name, spec.key, position),
                )
            self.conn.execute(
                "UPDATE classes SET position = position + ? WHERE hotkey IS NULL AND position < ?",
                (len(specs), len(specs)),
            )
        return self.classes()

    def add_classes(self, names: Sequence[str],
                    hotkeys: Iterable[str | None]) -> list[ClassRow]:
        """Append the classes ``names`` after the existing ones in one transaction, each with
        the next of ``hotkeys`` (none once they run out)."""
        keys = iter(hotkeys)
        with self._write():
            position = self.conn.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM classes").fetchone()[0]
            self.conn.executemany(
                "INSERT INTO classes (name, hotkey, position) VALUES (?, ?, ?)",
                [(name, next(keys, None), position + n) for n, name in enumerate(names)])
        wanted = set(names)
        return [row for row in self.classes() if row.name in wanted]

    # -- label events ----------------------------------------------------------------------

    def add_event(
        self,
        image_id: int,
        action: str,
        class_id: int | None = None,
        *,
        ms_on_screen: int | None = None,
        undo_of: int | None = None,
        source: str | None = None,
        probability: float | None = None,
        run_id: int | None = None,
        classes: Iterable[int] | None = None,
    ) -> int:
        """Append one event and commit it before returning; returns its id.

        ``source`` is None for a typed key, ``suggestion`` for an accepted suggestion (with the
        model's ``probability`` and ``run_id``), ``review`` for a confirmed suspect label.
        ``classes`` (multi-label mode) is the set of classes of a ``label`` event, which then
        has no ``class_id``; an empty set is a label too ("none of the classes").
        """
        with self._write():
            return self._insert_event(image_id, action, class_id, ms_on_screen=ms_on_screen,
                                      undo_of=undo_of, source=source, probability=probability,
                                      run_id=run_id, classes=classes)

    def _insert_event(self, image_id: int, action: str, class_id: int | None, *,
                      ms_on_screen: int | None = None, undo_of: int | None = None,
                      source: str | None = None, probability: float | None = None,
                      run_id: int | None = None, classes: Iterable[int] | None = None) -> int:
        if classes is not None and (action != "label" or class_id is not None):
            raise ValueError("a class set is a label event's, without class_id")
        cur = self.conn.execute(
            "INSERT INTO label_events (image_id, action, class_id, annotator, created_at, "
            "ms_on_screen, undo_of, source, probability, run_id, classes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (image_id, action, class_id, self.annotator, now_iso(), ms_on_screen, undo_of,
             source, probability, run_id, None if classes is None else classes_json(classes)),
        )
        return cur.lastrowid or 0

    def label(self, image_id: int, class_id: int, ms_on_screen: int | None = None) -> int:
        return self.add_event(image_id, "label", class_id, ms_on_screen=ms_on_screen)

    def label_set(self, image_id: int, class_ids: Iterable[int],
                  ms_on_screen: int | None = None) -> int:
        """Label an image with a set of classes (multi-label mode)."""
        return self.add_event(image_id, "label", classes=class_ids, ms_on_screen=ms_on_screen)

    def skip(self, image_id: int, ms_on_screen: int | None = None) -> int:
        return self.add_event(image_id, "skip", ms_on_screen=ms_on_screen)

    def label_batch(self, labels: Sequence[tuple[int, int]], *, source: str = "grid",
                    ms_on_screen: int | None = None) -> list[int]:
        """Label several images, ``(image id, class id)`` each, in one transaction (one event
        per image, committed together or not at all); returns the event ids in order."""
        with self._write():
            return [self._insert_event(image_id, "label", class_id, source=source,
                                       ms_on_screen=ms_on_screen)
                    for image_id, class_id in labels]

    def undo(self, event_id: int) -> UndoResult:
        """Append an event restoring the image's state from before ``event_id``."""
        with self._write():
            return self._undo_event(event_id)

    def undo_batch(self, event_ids: Sequence[int]) -> list[UndoResult]:
        """Undo several events (a grid page's labels) in one transaction: all of them, or,
        when one cannot be undone (``UndoConflict``, ``KeyError``), none."""
        with self._write():
            return [self._undo_event(event_id) for event_id in event_ids]

    def _undo_event(self, event_id: int) -> UndoResult:
        row = self.conn.execute(
            "SELECT image_id FROM label_events WHERE id = ?", (event_id,)
        ).fetchone()
        if row is None:
            raise KeyError(event_id)
        image_id = row[0]
        if self.conn.execute(
            "SELECT 1 FROM label_events WHERE image_id = ? AND id > ? AND annotator != ?",
            (image_id, event_id, self.annotator),
        ).fetchone():
            raise UndoConflict("someone else has labeled this image since: not undone")
        latest = self.current(image_id)
        restored = self.conn.execute(
            "SELECT action, class_id, classes FROM label_events WHERE image_id = ? "
            "AND id < ? ORDER BY id DESC LIMIT 1",
            (image_id, event_id),
        ).fetchone() or ("clear", None, None)
        cur = self.conn.execute(
            "INSERT INTO label_events (image_id, action, class_id, classes, annotator, "
            "created_at, undo_of) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (image_id, *restored, self.annotator, now_iso(), event_id),
        )
        return UndoResult(image_id, cur.lastrowid or 0, latest, ImageState.of(*restored))

    # -- current state and counts ----------------------------------------------------------

    def current(self, image_id: int) -> ImageState:
        """The image's state (``UNLABELED`` if it has no events)."""
        row = self.conn.execute(
            "SELECT action, class_id, classes FROM label_events WHERE image_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (image_id,),
        ).fetchone()
        return ImageState.of(*row) if row else UNLABELED

    def counts(self) -> Counts:
        counts = Counts(total=self.image_count())
        rows = self.conn.execute(
            "SELECT e.action, e.class_id, COUNT(*) FROM latest_events e "
            "JOIN images i ON i.id = e.image_id WHERE i.status != 'missing' "
            "GROUP BY e.action, e.class_id"
        )
        for action, class_id, n in rows:
            if action == "label":
                counts.labeled += n
                if class_id is not None:  # None: class sets, counted below
                    counts.per_class[class_id] = n
            elif action == "skip":
                counts.skipped += n
        # Multi-label: each class counts the images whose set holds it.
        for class_id, n in self.conn.execute(
                "SELECT j.value, COUNT(*) FROM latest_events e JOIN images i ON i.id = e.image_id "
                "JOIN json_each(e.classes) j WHERE e.classes IS NOT NULL "
                "AND i.status != 'missing' GROUP BY j.value"):
            counts.per_class[class_id] = counts.per_class.get(class_id, 0) + n
        return counts

    def last_event_id(self) -> int:
        """The newest label event's id (0 when none): a watermark for "labels since"."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM label_events").fetchone()[0]

    def counts_through(self) -> tuple[Counts, int]:
        """The counts and the newest event id they include, read in one snapshot (a labeler
        adds its own later changes on top: see ``LabelSession.take_counts``)."""
        self.conn.execute("BEGIN")
        try:
            return self.counts(), self.last_event_id()
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def has_class_sets(self) -> bool:
        """Whether any event carries a set of classes (a multi-label label, or its undo)."""
        return bool(self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM label_events WHERE classes IS NOT NULL)").fetchone()[0])

    def label_states(self) -> list[tuple[int, str, str | None, int | None, str | None]]:
        """Every image, missing ones too, as ``(id, path, action, class_id, classes)`` of its
        latest event (``action`` None when it has none; ``classes`` a multi-label set's JSON)."""
        return self.conn.execute(
            "SELECT i.id, i.path, e.action, e.class_id, e.classes FROM images i "
            "LEFT JOIN latest_events e ON e.image_id = i.id").fetchall()

    # -- import (tui_label.dataio.importing) -----------------------------------------------

    def import_labels(self, rows: Sequence[tuple[int, Any, str, str | None]],
                      decide: Callable[[Any, Any], str], *,
                      sets: bool = False) -> list[tuple[str, Any]]:
        """Write imported labels in one transaction: all of them or, on any error, none.

        Each row is ``(image_id, class_id, annotator, created_at)`` (None: now), applied in
        order. ``decide(current, wanted)`` gets the image's current class (None unless its
        latest event is a label) as it is inside this transaction, and returns ``new``,
        ``changed``, ``unchanged`` or ``conflict``; ``new`` and ``changed`` append a ``label``
        event with ``source = 'import'``. Returns each row's ``(outcome, class before)``.
        With ``sets`` (multi-label), a row's class is a frozenset of class ids, written as the
        event's ``classes``, and the current class is a frozenset too (a single label ``c``
        reads as ``{c}``).
        """
        with self._write():
            current = self._current_classes(sorted({row[0] for row in rows}), sets)
            results, events, now = [], [], now_iso()
            as_json: dict[frozenset[int], str] = {}  # a dataset has few distinct sets
            for image_id, class_id, annotator, created_at in rows:
                before = current.get(image_id)
                result = decide(before, class_id)
                results.append((result, before))
                if result in ("new", "changed"):
                    if sets and class_id not in as_json:
                        as_json[class_id] = classes_json(class_id)
                    wanted = (None, as_json[class_id]) if sets else (class_id, None)
                    events.append((image_id, *wanted, annotator, created_at or now))
                    current[image_id] = class_id
            self.conn.executemany(
                "INSERT INTO label_events (image_id, action, class_id, classes, annotator, "
                "created_at, source) VALUES (?, 'label', ?, ?, ?, ?, 'import')", events)
        return results

    def _current_classes(self, ids: list[int], sets: bool) -> dict[int, Any]:
        """The current class of each of ``ids`` (a frozenset with ``sets``; None unless the
        latest event is a label), read 500 at a time."""
        current: dict[int, Any] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for image_id, action, class_id, classes in self.conn.execute(
                    "SELECT image_id, action, class_id, classes FROM label_events WHERE id "
                    f"IN (SELECT MAX(id) FROM label_events WHERE image_id IN ({marks}) "
                    "GROUP BY image_id)", chunk):
                if action != "label":
                    current[image_id] = None
                elif sets:
                    current[image_id] = ImageState.of(action, class_id, classes).classes
                else:
                    current[image_id] = class_id
        return current

"""Read models for export and statistics (``tui_label.dataio``): each image's current label,
each annotator's own, the labels annotators agree on, and the whole event log. Read only."""

from __future__ import annotations

from collections.abc import Iterator

from tui_label.store.base import StoreBase
from tui_label.store.sql import CLASS_SET_SQL, OWN_LATEST

# A label's classes as a JSON list of ids (a single label c as [c]); NULL for a skip.
_LABEL_SET = f"CASE WHEN e.action = 'label' THEN {CLASS_SET_SQL.format(e='e')} END"
_EXPORT_COLUMNS = (
    "i.path, e.action, c.name AS class, e.annotator, e.created_at, "
    f"COALESCE(s.split, '') AS split, {_LABEL_SET} AS classes"
)


class ReportsMixin(StoreBase):
    def export_rows(self, *, annotator: str | None = None) -> list[tuple]:
        """``(path, action, class, annotator, created_at, split, classes)`` by path: each
        image's current label or skip, or (with ``annotator``) that annotator's own latest one.
        ``split`` is ``''`` for an image without a stored split; ``classes`` is a label's set
        of class ids as JSON (a single label ``c`` as ``[c]``), None for a skip."""
        params: tuple[str, ...]
        if annotator is None:
            source, params = "latest_events", ()
        else:
            source = f"({OWN_LATEST.format(where='AND annotator = ?')})"
            params = (annotator,)
        return self.conn.execute(
            f"SELECT {_EXPORT_COLUMNS} FROM {source} last "
            "JOIN label_events e ON e.id = last.id JOIN images i ON i.id = e.image_id "
            "LEFT JOIN classes c ON c.id = e.class_id LEFT JOIN splits s ON s.image_id = i.id "
            "WHERE e.action != 'clear' ORDER BY i.path", params).fetchall()

    def agreed_rows(self) -> list[tuple]:
        """Images that two or more annotators labeled (their own latest event is a label; a
        review is no annotator's label, as in the statistics) with the same class, as
        ``(path, 'label', class, annotators, created_at, split)`` by path: ``annotators``
        joined by ``\\x1f`` (unordered), ``created_at`` the latest."""
        own = OWN_LATEST.format(where="AND source IS NOT 'review'")
        label_set = CLASS_SET_SQL.format(e="e")
        return self.conn.execute(
            "SELECT i.path, 'label', MAX(c.name), group_concat(e.annotator, char(31)), "
            f"MAX(e.created_at), COALESCE(s.split, ''), MAX({label_set}) "
            f"FROM ({own}) last "
            "JOIN label_events e ON e.id = last.id JOIN images i ON i.id = e.image_id "
            "LEFT JOIN classes c ON c.id = e.class_id LEFT JOIN splits s ON s.image_id = i.id "
            "WHERE e.action = 'label' GROUP BY e.image_id "
            f"HAVING COUNT(*) >= 2 AND COUNT(DISTINCT {label_set}) = 1 "
            "ORDER BY i.path").fetchall()

    def annotators(self) -> list[str]:
        """Every name that has written a label event, sorted."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT annotator FROM label_events ORDER BY annotator")]

    def current_labels(self) -> list[dict]:
        """Every image's current label or skip, as ``{path, action, class, annotator, ...}``."""
        return list(self.db.query("SELECT * FROM current_labels ORDER BY path"))

    def stats_events(self) -> Iterator[tuple]:
        """Every label event in id order, as ``(id, image_id, action, class_id, annotator,
        created_at, ms_on_screen, undo_of, source, classes)`` (``tui_label.dataio.stats.Event``'s
        fields)."""
        return self.conn.execute(
            "SELECT id, image_id, action, class_id, annotator, created_at, ms_on_screen, "
            "undo_of, source, classes FROM label_events ORDER BY id")

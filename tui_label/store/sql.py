"""SQL fragments more than one part of the store builds on, and the classes column's form."""

from __future__ import annotations

import json
from collections.abc import Iterable


def classes_json(class_ids: Iterable[int]) -> str:
    """A multi-label event's ``classes`` column: sorted ids, compact (``[1,3]``), so equal sets
    are equal strings, and equal to SQLite's ``json_array(class_id)`` for a single label."""
    return json.dumps(sorted({int(c) for c in class_ids}), separators=(",", ":"))


# An event's classes as one comparable value: a single label ``c`` reads as the set ``[c]``.
CLASS_SET_SQL = "COALESCE({e}.classes, json_array({e}.class_id))"

# Each annotator's own latest event per image, leaving out undo events and the events they
# undid: an undo appends the state from before the undone event, which may be another
# annotator's label, and must not count as the undoer's own.
OWN_LATEST = (
    "SELECT image_id, annotator, MAX(id) AS id FROM label_events "
    "WHERE undo_of IS NULL AND id NOT IN "
    "(SELECT undo_of FROM label_events WHERE undo_of IS NOT NULL) {where} "
    "GROUP BY image_id, annotator"
)

NOT_REVIEW = "AND COALESCE(source, '') != 'review'"

# Images whose annotators' own latest labels (reviews left out) differ, unless a review
# (not undone) is newer than all of them.
DISAGREEMENTS = (
    "SELECT e.image_id FROM label_events e "
    "JOIN (SELECT image_id, annotator, MAX(id) AS id FROM label_events "
    "WHERE undo_of IS NULL AND COALESCE(source, '') != 'review' AND id NOT IN "
    "(SELECT undo_of FROM label_events WHERE undo_of IS NOT NULL) "
    "GROUP BY image_id, annotator) own ON e.id = own.id "
    "WHERE e.action = 'label' GROUP BY e.image_id "
    f"HAVING COUNT(DISTINCT {CLASS_SET_SQL.format(e='e')}) >= 2 AND MAX(e.id) > COALESCE(("
    "SELECT MAX(r.id) FROM label_events r WHERE r.image_id = e.image_id "
    "AND r.source = 'review' AND r.id NOT IN "
    "(SELECT undo_of FROM label_events WHERE undo_of IS NOT NULL)), 0)"
)

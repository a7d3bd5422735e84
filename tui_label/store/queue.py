"""The rows an order ranks (``tui_label.core.orders``): every image with its current state, as
this annotator sees it with an overlap share, or the images annotators disagree on. The store
hands rows out; ranking them is the order's business, not the store's."""

from __future__ import annotations

from typing import Any

from tui_label.core.hashing import in_overlap
from tui_label.core.types import QueueRow
from tui_label.store.base import StoreBase
from tui_label.store.sql import DISAGREEMENTS, OWN_LATEST

_STATE_ROWS = (
    "SELECT i.id, i.path, s.action, COALESCE(s.class_id, s.classes) FROM images i "
    "LEFT JOIN latest_events s ON s.image_id = i.id "
)


class QueueMixin(StoreBase):
    def queue_rows(self, overlap: float = 0.0) -> list[QueueRow]:
        """Every image that is not missing, with its current state, in path order.

        With an ``overlap`` share, an image of the share that fewer than two annotators
        labeled is shown with this annotator's own state (unlabeled until they label it
        themselves: nobody sees another's label there), unless a review settled it.
        """
        rows: list[Any] = self.conn.execute(
            _STATE_ROWS + "WHERE i.status != 'missing' ORDER BY i.path"
        ).fetchall()  # plain tuples in QueueRow's field order: a million build fast
        if overlap > 0:
            rows = self._with_own_state(rows, overlap)
        return rows

    def _with_own_state(self, rows: list[Any], overlap: float) -> list[Any]:
        own = {r[0]: (r[1], r[2]) for r in self.conn.execute(
            "SELECT e.image_id, e.action, COALESCE(e.class_id, e.classes) FROM label_events e "
            f"JOIN ({OWN_LATEST.format(where='AND annotator = ?')}) last "
            "ON e.id = last.id", (self.annotator,))}
        labelers = dict(self.conn.execute(
            "SELECT e.image_id, COUNT(*) FROM label_events e "
            f"JOIN ({OWN_LATEST.format(where='AND annotator != ?')}) last "
            "ON e.id = last.id WHERE e.action = 'label' GROUP BY e.image_id",
            (self.annotator,)))
        reviewed = {r[0] for r in self.conn.execute(
            "SELECT DISTINCT image_id FROM label_events WHERE source = 'review'")}
        for n, row in enumerate(rows):
            image_id = row[0]
            if (image_id in reviewed or labelers.get(image_id, 0) >= 2
                    or not in_overlap(row[1], overlap)):
                continue
            action, class_id = own.get(image_id, (None, None))
            rows[n] = (image_id, row[1], action, class_id)
        return rows

    def disagreement_rows(self) -> list[QueueRow]:
        """The images annotators disagree on (see ``disagreement_count``), with their current
        state, in path order."""
        return self.conn.execute(
            _STATE_ROWS + f"WHERE i.status != 'missing' AND i.id IN ({DISAGREEMENTS}) "
            "ORDER BY i.path").fetchall()

    def rows_for(self, source: str, overlap: float = 0.0) -> list[QueueRow]:
        """The rows an order of ``source`` ranks (``Order.source``): ``disagreements`` (the
        images annotators disagree on), else every image (``queue_rows(overlap)``)."""
        if source == "disagreements":
            return self.disagreement_rows()
        return self.queue_rows(overlap)

    def disagreement_count(self) -> int:
        """How many images annotators disagree on (not settled by a review since)."""
        return self.conn.execute(
            f"SELECT COUNT(*) FROM ({DISAGREEMENTS}) d "
            "JOIN images i ON i.id = d.image_id WHERE i.status != 'missing'").fetchone()[0]

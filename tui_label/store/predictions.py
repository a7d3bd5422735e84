"""What a run's model said: its predictions per image, the labels it doubts (suspects), and
whether labels were written after it (is the model stale?)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tui_label.core.times import now_iso
from tui_label.store.labels import LabelsMixin
from tui_label.store.runs import decode_run


class PredictionsMixin(LabelsMixin):
    def save_predictions(self, run_id: int, kind: str, rows: Sequence[dict]) -> None:
        """Replace a run's predictions of one kind (``model`` or ``oof``). Each row:
        ``image_id, class_id, probability, margin, entropy, top_k`` (a list of pairs)."""
        with self._write():
            self.conn.execute("DELETE FROM predictions WHERE run_id = ? AND kind = ?",
                              (run_id, kind))
            self.conn.executemany(
                "INSERT INTO predictions (run_id, image_id, kind, class_id, probability, margin, "
                "entropy, top_k) VALUES (:run_id, :image_id, :kind, :class_id, :probability, "
                ":margin, :entropy, :top_k)",
                [{**r, "run_id": run_id, "kind": kind, "top_k": json.dumps(r["top_k"])}
                 for r in rows],
            )
            if kind == "model":
                self.conn.execute(
                    "UPDATE runs SET predicted_at = ?, predicted_through = ? WHERE id = ?",
                    (now_iso(), self.last_event_id(), run_id))

    def predictions(self, run_id: int, kind: str = "model") -> dict[int, dict]:
        """A run's predictions by image id: ``class_id, probability, margin, entropy, top_k``."""
        rows = self.conn.execute(
            "SELECT image_id, class_id, probability, margin, entropy, top_k FROM predictions "
            "WHERE run_id = ? AND kind = ?", (run_id, kind))
        return {r[0]: {"class_id": r[1], "probability": r[2], "margin": r[3], "entropy": r[4],
                       "top_k": [tuple(p) for p in json.loads(r[5])]} for r in rows}

    def latest_predicted_run(self) -> dict | None:
        """The newest run whose predictions are stored, or None."""
        rows = list(self.db.query(
            "SELECT * FROM runs WHERE predicted_at IS NOT NULL ORDER BY id DESC LIMIT 1"))
        return decode_run(rows[0]) if rows else None

    def labels_since(self, run: dict) -> int:
        """How many labels were written after ``run``'s predictions were stored: is its model
        stale? (Counted by event id, see ``m005_predicted_through``.)"""
        return self.conn.execute(
            "SELECT COUNT(*) FROM label_events WHERE action = 'label' AND id > ?",
            (run.get("predicted_through") or 0,)).fetchone()[0]

    def save_suspects(self, run_id: int, rows: Sequence[dict]) -> None:
        """Replace a run's ranked suspect labels. Each row: ``image_id, rank, given_class,
        predicted_class, probability, given_probability``."""
        with self._write():
            self.conn.execute("DELETE FROM suspects WHERE run_id = ?", (run_id,))
            self.conn.executemany(
                "INSERT INTO suspects (run_id, image_id, rank, given_class, predicted_class, "
                "probability, given_probability) VALUES (:run_id, :image_id, :rank, "
                ":given_class, :predicted_class, :probability, :given_probability)",
                [{**r, "run_id": run_id} for r in rows],
            )

    def suspects(self, run_id: int, *, open_only: bool = True) -> list[dict]:
        """A run's suspect labels, most doubtful first. ``open_only`` leaves out images whose
        label changed after the run's predictions, and those whose label stands as a review
        gave it (confirmed, or settled between annotators): a reviewed label is no suspect of
        later predictions either, until somebody changes it."""
        sql = (
            "SELECT s.image_id, i.path, s.rank, s.given_class, s.predicted_class, s.probability, "
            "s.given_probability FROM suspects s JOIN images i ON i.id = s.image_id "
            "JOIN runs r ON r.id = s.run_id WHERE s.run_id = ? AND i.status != 'missing' "
        )
        if open_only:
            sql += ("AND NOT EXISTS (SELECT 1 FROM label_events e WHERE e.image_id = s.image_id "
                    "AND e.id > COALESCE(r.predicted_through, 0)) "
                    "AND NOT EXISTS (SELECT 1 FROM latest_events l WHERE l.image_id = "
                    "s.image_id AND l.source = 'review') ")
        rows = self.db.query(sql + "ORDER BY s.rank", [run_id])
        return list(rows)

"""The labeler's view of the model: the latest run's predictions, mapped to today's classes,
with the live head's probabilities laid over them.

``ModelView`` implements ``orders.ModelScores`` (what the model orders read) and gives the
suggestions shown under the image. It reads the run's memory-mapped arrays
(``tui_label.predictions``) and a few store rows; it never writes.

Numpy only: no textual, no torch, and no scikit-learn here (the live head is fit in another
process, see ``refit_live_head``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tui_label.errors import UsageError
from tui_label.paths import runs_dir
from tui_label.predictions import PredictionSet, predictions_dir
from tui_label.store import Store


class ModelUnavailable(UsageError):
    """The latest run's predictions cannot be read (missing or damaged files): one line."""


@dataclass(frozen=True, eq=False)
class LiveHead:
    """The live linear head's probabilities: refit on the current labels' embeddings.

    Rows are ``ids`` (ascending); ``class_ids[k]`` is today's class of column ``k``.
    """

    ids: np.ndarray
    probs: np.ndarray
    class_ids: list[int]
    labels: int  # how many labels it was fit on

    def rows_of(self, image_ids: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.ids, image_ids)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        if not len(self.ids):
            return np.full(len(image_ids), -1)
        return np.where(self.ids[pos] == image_ids, pos, -1)


def run_predictions_dir(db: Path, run_id: int) -> Path:
    """Where a run's prediction arrays are (beside its checkpoints)."""
    return predictions_dir(runs_dir(Path(db).resolve()) / f"run-{run_id}")


@dataclass(frozen=True, eq=False)
class ModelView:
    """One run's predictions (and maybe the live head) as the labeler reads them.

    Immutable: a background thread can rank with one while the screen takes the next.
    ``column_classes`` are the run's columns mapped to today's class ids by name (None: a
    class the labeler no longer offers), then any class only the live head knows.
    """

    run_id: int
    predictions: PredictionSet
    column_classes: list[int | None]
    stale_classes: bool  # the run's classes differ from today's
    labels_before: int  # labels written after the predictions, when this view was loaded
    suspects: tuple[int, ...] = ()
    suspect_rows: dict[int, dict] = field(default_factory=dict)
    live: LiveHead | None = None

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def load(cls, store: Store) -> ModelView | None:
        """The newest run with predictions, or None when there is none.

        Raises:
            ModelUnavailable: its prediction files are missing or damaged.
        """
        run = store.latest_predicted_run()
        if run is None:
            return None
        folder = run_predictions_dir(store.path, run["id"])
        try:
            preds = PredictionSet.load(folder)
        except (OSError, ValueError, EOFError) as exc:
            reason = "missing" if isinstance(exc, FileNotFoundError) else "damaged"
            raise ModelUnavailable(f"the predictions of run {run['id']} are {reason} "
                                   f"({folder}): no suggestions") from None
        offered = {c.name: c.id for c in store.classes() if c.hotkey}
        columns = [offered.get(name) for name in preds.class_names]
        suspects = store.suspects(run["id"])
        return cls(
            run_id=run["id"], predictions=preds, column_classes=columns,
            stale_classes=set(preds.class_names) != set(offered),
            labels_before=store.labels_since(run["predicted_at"]),
            suspects=tuple(r["image_id"] for r in suspects),
            suspect_rows={r["image_id"]: r for r in suspects},
        )

    def with_live(self, live: LiveHead) -> ModelView:
        """This view with the live head's probabilities over the run's (a new view)."""
        run_columns = self.column_classes[:len(self.predictions.class_names)]
        extra = [c for c in live.class_ids if c not in run_columns]
        return replace(self, live=live, column_classes=run_columns + extra)

    def resolved(self, image_id: int) -> ModelView:
        """This view without ``image_id`` among the suspects (relabeled or confirmed)."""
        if image_id not in self.suspect_rows:
            return self
        return replace(self, suspects=tuple(i for i in self.suspects if i != image_id))

    # -- orders.ModelScores ---------------------------------------------------------------

    def probs(self, ids: Sequence[int]) -> np.ndarray:
        """``len(ids) x C`` probabilities in ``column_classes`` order; NaN rows: unseen."""
        ids = np.asarray(ids, dtype=np.int64)
        width = len(self.column_classes)
        out = np.full((len(ids), width), np.nan, dtype=np.float32)
        run_width = self.predictions.probs.shape[1]
        rows = self.predictions.rows_of(ids)
        have = np.flatnonzero(rows >= 0)
        if len(have):
            out[have, :run_width] = self.predictions.probs[rows[have]]
            out[have, run_width:] = 0.0
        if self.live is not None:
            live_rows = self.live.rows_of(ids)
            here = np.flatnonzero(live_rows >= 0)
            if len(here):
                cols = [self.column_classes.index(c) for c in self.live.class_ids]
                out[here] = 0.0
                out[np.ix_(here, cols)] = self.live.probs[live_rows[here]]
        return out

    def oof_probs(self, ids: Sequence[int]) -> np.ndarray:
        """Out-of-sample probabilities of labeled images; NaN rows where there are none."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.full((len(ids), len(self.column_classes)), np.nan, dtype=np.float32)
        p = self.predictions
        if p.oof_ids is None or p.oof_probs is None or not len(p.oof_ids):
            return out
        pos = np.clip(np.searchsorted(p.oof_ids, ids), 0, len(p.oof_ids) - 1)
        have = np.flatnonzero(p.oof_ids[pos] == ids)
        out[have, :p.oof_probs.shape[1]] = p.oof_probs[pos[have]]
        out[have, p.oof_probs.shape[1]:] = 0.0
        return out

    def embeddings(self, ids: Sequence[int]) -> np.ndarray | None:
        """``len(ids) x D`` float32 embeddings (NaN rows where none), or None."""
        emb = self.predictions.embeddings
        if emb is None:
            return None
        ids = np.asarray(ids, dtype=np.int64)
        rows = self.predictions.rows_of(ids)
        out = np.full((len(ids), emb.shape[1]), np.nan, dtype=np.float32)
        have = np.flatnonzero(rows >= 0)
        out[have] = emb[rows[have]]
        return out

    # -- what the screen shows ------------------------------------------------------------

    def suggestions(self, image_id: int, k: int = 3) -> list[tuple[int, float]]:
        """The top ``k`` of today's classes for an image, most probable first (empty when the
        model has not seen it)."""
        row = self.probs([image_id])[0]
        if np.isnan(row).any():
            return []
        known = [(c, float(row[n])) for n, c in enumerate(self.column_classes) if c is not None]
        known.sort(key=lambda cp: -cp[1])
        return known[:k]

    def source(self) -> str:
        """``run 3``, or ``live head · 40 labels``."""
        if self.live is not None:
            return f"live head · {self.live.labels} labels"
        return f"run {self.run_id}"

    def warnings(self, newer_labels: int) -> list[str]:
        """Why the suggestions may be out of date (``newer_labels``: labels written since)."""
        out = []
        if newer_labels > 0:
            out.append("older than the latest labels")
        if self.stale_classes:
            out.append("classes changed")
        return out


def labeled_for_live_head(store: Store, model: ModelView) -> tuple[list[int], list[int]]:
    """The labeled images the run has embeddings for, and their classes: the live head's
    training set (classes the labeler offers only)."""
    offered = {c.id for c in store.classes() if c.hotkey}
    rows = [(r.image_id, r.class_id) for r in store.training_items() if r.class_id in offered]
    if model.predictions.embeddings is None or not rows:
        return [], []
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    have = model.predictions.rows_of(ids) >= 0
    return ([r[0] for r, h in zip(rows, have, strict=True) if h],
            [r[1] for r, h in zip(rows, have, strict=True) if h])


def refit_live_head(folder: str, labeled_ids: list[int], labels: list[int]) -> LiveHead | None:
    """Fit the live head on the labeled images' embeddings and predict every image that has
    one. Runs in the live head's own process (it imports scikit-learn, never torch).

    Returns None when there is too little to fit (fewer than two classes).
    """
    from tui_label import live_head

    preds = PredictionSet.load(Path(folder))
    if preds.embeddings is None or len(set(labels)) < 2:
        return None
    rows = preds.rows_of(np.asarray(labeled_ids, dtype=np.int64))
    x = np.asarray(preds.embeddings[rows], dtype=np.float32)
    y = np.asarray(labels, dtype=np.int64)
    classes, probs = live_head.fit_predict(x, y, np.asarray(preds.embeddings))
    return LiveHead(np.array(preds.ids), np.asarray(probs, dtype=np.float32),
                    [int(c) for c in classes], len(labels))

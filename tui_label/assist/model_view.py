"""The labeler's view of the model: the latest run's predictions, mapped to today's classes,
with the live head's probabilities laid over them.

``ModelView`` implements ``rankings.ModelScores`` (what the model orders read) and gives the
suggestions shown under the image. It reads the run's memory-mapped arrays
(``tui_label.assist.predictions``) and a few store rows; it never writes.

Numpy only: no textual, no torch, and no scikit-learn here: the live head is fit in another
process (``tui_label.assist.live_head.LiveHead``) on ``live_training_set``, and its
probabilities come back as ``LiveProbs``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np

from tui_label.assist.predictions import PredictionSet, predictions_dir
from tui_label.config.paths import runs_dir
from tui_label.errors import UsageError
from tui_label.store import Store

# The suggestions say they are out of date once the labels written since the model exceed this
# share of the labels it learnt from.
STALE_SHARE = 0.2


class ModelUnavailable(UsageError):
    """The latest run's predictions cannot be read (missing or damaged files): one line."""


@dataclass(frozen=True, eq=False)
class LiveProbs:
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
    folder: Path  # the run's predictions folder
    predictions: PredictionSet
    column_classes: list[int | None]
    stale_classes: bool  # the run's classes differ from today's
    labels_before: int  # labels written after the predictions, when this view was loaded
    suspects: tuple[int, ...] = ()
    suspect_rows: dict[int, dict] = field(default_factory=dict)
    predicted_at: str = ""  # when the run's predictions were stored
    run_labels: int = 0  # the labels the run trained and validated on (0: not recorded)
    live: LiveProbs | None = None
    # Runs a module-level function elsewhere and returns its result (the labeler: in the live
    # head's process, so scikit-learn never loads in the labeler); None: here.
    runner: Callable[..., object] | None = None
    # ``duplicate_groups``, computed once: the views made from this one (``with_live``, ...)
    # share the run's embeddings, and this dict.
    computed: dict[str, object] = field(default_factory=dict, repr=False)

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
            run_id=run["id"], folder=folder, predictions=preds, column_classes=columns,
            stale_classes=set(preds.class_names) != set(offered),
            labels_before=store.labels_since(run),
            suspects=tuple(r["image_id"] for r in suspects),
            suspect_rows={r["image_id"]: r for r in suspects},
            predicted_at=run["predicted_at"],
            run_labels=(run.get("num_train") or 0) + (run.get("num_val") or 0),
        )

    def with_live(self, live: LiveProbs) -> ModelView:
        """This view with the live head's probabilities over the run's (a new view)."""
        run_columns = self.column_classes[:len(self.predictions.class_names)]
        extra: list[int | None] = [c for c in live.class_ids if c not in run_columns]
        return replace(self, live=live, column_classes=run_columns + extra)

    def with_runner(self, runner: Callable[..., object] | None) -> ModelView:
        """This view, running TypiClust through ``runner(fn, *args)``."""
        return replace(self, runner=runner)

    def resolved(self, image_id: int) -> ModelView:
        """This view without ``image_id`` among the suspects (relabeled or confirmed)."""
        if image_id not in self.suspect_rows:
            return self
        return replace(self, suspects=tuple(i for i in self.suspects if i != image_id))

    # -- rankings.ModelScores -------------------------------------------------------------

    def probs(self, image_ids: Sequence[int]) -> np.ndarray:
        """``len(ids) x C`` probabilities in ``column_classes`` order; NaN rows: unseen."""
        ids = np.asarray(image_ids, dtype=np.int64)
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
                cols = np.array([self.column_classes.index(c) for c in self.live.class_ids])
                out[here] = 0.0
                out[np.ix_(here, cols)] = self.live.probs[live_rows[here]]
        return out

    def oof_probs(self, image_ids: Sequence[int]) -> np.ndarray:
        """Out-of-sample probabilities of labeled images; NaN rows where there are none."""
        ids = np.asarray(image_ids, dtype=np.int64)
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
        arr = np.asarray(ids, dtype=np.int64)
        rows = self.predictions.rows_of(arr)
        out = np.full((len(arr), emb.shape[1]), np.nan, dtype=np.float32)
        have = np.flatnonzero(rows >= 0)
        out[have] = emb[rows[have]]
        return out

    def typical_first(self, ids: Sequence[int], labeled: np.ndarray) -> np.ndarray:
        """Positions of the unlabeled ones of ``ids`` (all with embeddings), most typical
        first (TypiClust, through ``runner`` when there is one)."""
        rows = self.predictions.rows_of(np.asarray(ids, dtype=np.int64))
        args = (str(embeddings_file(self)), rows, np.asarray(labeled, dtype=bool))
        if self.runner is None:
            return typical_rows(*args)
        return np.asarray(self.runner(typical_rows, *args), dtype=np.int64)

    def duplicate_groups(self) -> list[tuple[int, ...]]:
        """Image ids whose run embeddings are near copies (``assist.duplicates``
        ``embedding_groups``), largest group first; none without embeddings. Computed once
        (through ``runner`` when there is one), then kept."""
        if "duplicates" not in self.computed:
            groups: list[tuple[int, ...]] = []
            if self.predictions.embeddings is not None:
                ids = np.array(self.predictions.ids, dtype=np.int64)
                args = (str(embeddings_file(self)), ids)
                found = (duplicate_rows(*args) if self.runner is None
                         else cast(list, self.runner(duplicate_rows, *args)))
                groups = [tuple(int(i) for i in g) for g in found]
            self.computed["duplicates"] = groups
        return self.computed["duplicates"]  # type: ignore[return-value]

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
        """Why the suggestions may be out of date (``newer_labels``: labels written since):
        ``12 labels newer than run 3`` once those exceed ``STALE_SHARE`` of the labels the
        model learnt from (a few new labels change little: saying so on every image is noise)."""
        out = []
        basis = self.live.labels if self.live is not None else self.run_labels
        if stale(newer_labels, basis):
            model = "the live head" if self.live is not None else f"run {self.run_id}"
            out.append(f"{newer_labels} label{'s' if newer_labels != 1 else ''} newer than "
                       f"{model}")
        if self.stale_classes:
            out.append("classes changed")
        return out


def stale(newer_labels: int, model_labels: int) -> bool:
    """Are the labels written since a model (``newer_labels``) worth saying: more than
    ``STALE_SHARE`` of the ``model_labels`` it learnt from (any, when that is unknown: 0)?"""
    return newer_labels > STALE_SHARE * model_labels if model_labels > 0 else newer_labels > 0


def live_training_set(store: Store, model: ModelView) -> tuple[np.ndarray, np.ndarray,
                                                                   list[int]]:
    """The live head's training set: the rows (in the run's arrays) of the labeled images the
    run has embeddings for, their labels as column indices, and the class id of each column
    (the classes the labeler offers that have a label)."""
    offered = {c.id for c in store.classes() if c.hotkey}
    items = [(r.image_id, r.class_id) for r in store.training_items() if r.class_id in offered]
    if model.predictions.embeddings is None or not items:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    rows = model.predictions.rows_of(np.array([i for i, _ in items], dtype=np.int64))
    have = rows >= 0
    classes = sorted({c for (_, c), h in zip(items, have, strict=True) if h})
    column = {c: k for k, c in enumerate(classes)}
    labels = np.array([column[c] for (_, c), h in zip(items, have, strict=True) if h],
                      dtype=np.int64)
    return rows[have].astype(np.int64), labels, classes


def embeddings_file(model: ModelView) -> Path:
    """The run's embeddings, which the live head's process opens memory-mapped."""
    return model.folder / "embeddings.npy"


def fit_live(store: Store, model: ModelView, head, timeout: float | None = None
             ) -> LiveProbs | None:
    """Refit the live head on every current label and return its probabilities for every image
    the run has embeddings for. ``head`` is a ``tui_label.assist.live_head.LiveHead`` (the fit
    runs in its process; this call waits for it, so call it from a worker thread).

    Returns None when there is nothing to fit: no embeddings, or labels of fewer than two
    classes.
    """
    rows, labels, classes = live_training_set(store, model)
    if len(classes) < 2:
        return None
    _head, probs = head.refit(embeddings_file(model), rows, labels, len(classes)).result(timeout)
    return LiveProbs(np.asarray(model.predictions.ids), np.asarray(probs, dtype=np.float32),
                     classes, len(labels))


def typical_rows(embeddings: str, rows: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """TypiClust on ``embeddings[rows]`` (a ``.npy`` file, opened memory-mapped): positions of
    the unlabeled ones, most typical first. Module level, so another process can run it."""
    from tui_label.assist.typiclust import typical_first

    emb = np.load(embeddings, mmap_mode="r")
    return np.asarray(typical_first(np.asarray(emb[np.asarray(rows)], dtype=np.float32),
                                    labeled), dtype=np.int64)


def duplicate_rows(embeddings: str, ids: np.ndarray) -> list[tuple[int, ...]]:
    """The groups of ``embedding_groups`` on a run's embeddings (a ``.npy`` file, rows in
    ``ids`` order). Module level, so another process can run it."""
    from tui_label.assist.duplicates import embedding_groups

    return [g.image_ids for g in embedding_groups(np.asarray(ids).tolist(),
                                                  np.load(embeddings, mmap_mode="r"))]

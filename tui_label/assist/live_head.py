"""A linear head on stored embeddings: out-of-sample probabilities and the labeler's live head.

- ``fit(embeddings, labels, num_classes) -> LinearHead``: standardised features, multinomial
  logistic regression (scikit-learn, L-BFGS). The returned head predicts with numpy alone.
- ``fit_predict_oof(embeddings, labels, num_classes=None, folds=5, seed=0)``: cross-validated
  probabilities of labeled images (each row from a head that never saw that row's label), as
  cleanlab's ``CleanLearning`` does; the trainer calls it after predicting.
- ``LiveHead``: refits between runs in a separate process, so the labeler's UI thread never
  imports scikit-learn (about 1.5 s of imports) nor competes for the GIL while it fits.

Imports numpy only at module level: no torch, no textual, no scikit-learn until a fit.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Inverse regularisation strength on standardised features. Chosen on the sample digits
# (benchmarks/active_learning.py): small enough that 20 labels do not give 0/1 probabilities,
# large enough that hundreds of labels are not underfitted.
DEFAULT_C = 0.1
MAX_ITER = 200
# Rows per predict step: bounds the float32 copy of float16 embeddings (a million rows would
# otherwise need gigabytes at once).
_CHUNK = 65536


@dataclass
class LinearHead:
    """A fitted multinomial logistic regression, usable without scikit-learn.

    ``classes`` are the column indices (0..num_classes-1) seen in training; every other
    column gets probability 0.
    """

    mean: np.ndarray  # float32 D
    scale: np.ndarray  # float32 D
    coef: np.ndarray  # float32 K x D, one row per class in ``classes``
    intercept: np.ndarray  # float32 K
    classes: np.ndarray  # int64 K, ascending
    num_classes: int

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """``N x num_classes`` float32 probabilities (rows sum to 1)."""
        n = len(embeddings)
        out = np.zeros((n, self.num_classes), dtype=np.float32)
        if len(self.classes) == 1:
            out[:, self.classes[0]] = 1.0
            return out
        # Standardising folded into the weights: one pass over the rows instead of three.
        weights = (self.coef / self.scale).T
        bias = self.intercept - self.mean @ weights
        for start in range(0, n, _CHUNK):
            logits = np.asarray(embeddings[start:start + _CHUNK], dtype=np.float32) @ weights
            logits += bias
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            out[start:start + len(p), self.classes] = p
        return out


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    # A constant feature (a dead ReLU unit) would divide by zero: leave it unscaled.
    scale[scale < 1e-6] = 1.0
    return (x - mean) / scale, mean.astype(np.float32), scale.astype(np.float32)


def _check(embeddings: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ValueError(f"embeddings {embeddings.shape} and labels ({len(labels)}) do not match")
    if len(labels) == 0:
        raise ValueError("no labels to fit")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be column indices in 0..{num_classes - 1}")


def fit(embeddings: np.ndarray, labels: np.ndarray, num_classes: int, *, C: float = DEFAULT_C,
        max_iter: int = MAX_ITER, warm: LinearHead | None = None) -> LinearHead:
    """Fit a head on ``embeddings`` (N x D, any float dtype) with ``labels`` (N column indices).

    One class present: the head gives it probability 1 (nothing to learn). ``warm``: a previous
    head with the same classes and width starts L-BFGS from its coefficients (the live head
    refits after every few labels: a handful of iterations instead of dozens).
    """
    labels = np.asarray(labels, dtype=np.int64)
    x = np.asarray(embeddings, dtype=np.float32)
    _check(x, labels, num_classes)
    classes = np.unique(labels)
    z, mean, scale = _standardise(x)
    if len(classes) == 1:
        d = x.shape[1]
        return LinearHead(mean, scale, np.zeros((1, d), np.float32), np.zeros(1, np.float32),
                          classes, num_classes)
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=max_iter, solver="lbfgs")
    if (warm is not None and np.array_equal(warm.classes, classes)
            and warm.coef.shape[1] == x.shape[1]):
        # scikit-learn's warm start reads coef_/intercept_ from the estimator itself; a binary
        # model keeps one row (the second class's logit minus the first's).
        binary = len(classes) == 2
        model.warm_start = True
        model.coef_ = (warm.coef[1:] - warm.coef[:1]) if binary else warm.coef.copy()
        model.intercept_ = (warm.intercept[1:] - warm.intercept[:1]) if binary \
            else warm.intercept.copy()
    with warnings.catch_warnings():
        # Hitting max_iter still gives a usable head; the live head must not spam warnings.
        warnings.simplefilter("ignore")
        model.fit(z, labels)
    coef = model.coef_.astype(np.float32)
    intercept = model.intercept_.astype(np.float32)
    if len(classes) == 2:
        # Binary: p(second) = sigmoid(w.x + b) = softmax([0, w.x + b])[1].
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    return LinearHead(mean, scale, coef, intercept, classes, num_classes)


def oof_folds(labels: np.ndarray, folds: int = 5) -> int:
    """The number of folds used for ``labels``: ``folds`` reduced to the smallest class count,
    never below 2."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    smallest = int(counts[counts > 0].min()) if len(counts) else 0
    return max(2, min(folds, smallest))


def fit_predict_oof(embeddings: np.ndarray, labels: np.ndarray, num_classes: int | None = None,
                    folds: int = 5, seed: int = 0, *, C: float = DEFAULT_C) -> np.ndarray:
    """Out-of-sample probabilities (``N x num_classes`` float32) of labeled rows.

    Stratified K-fold (``oof_folds``: at most ``folds``, at least 2, fewer when a class has
    fewer labels): each row's probabilities come from a head fitted on the other folds. A class
    absent from a training fold gets probability 0 in that fold. ``num_classes`` defaults to
    ``max(labels) + 1``. Raises ``ValueError`` with fewer than 2 labels or ``folds < 2``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if folds < 2:
        raise ValueError("out-of-sample probabilities need at least 2 folds")
    if len(labels) < 2:
        raise ValueError("out-of-sample probabilities need at least 2 labels")
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    x = np.asarray(embeddings, dtype=np.float32)
    _check(x, labels, num_classes)
    from sklearn.model_selection import StratifiedKFold

    k = oof_folds(labels, folds)
    out = np.zeros((len(labels), num_classes), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class has only 1 member": expected with a class of 1 label
        # (that label is then judged by heads that never saw its class).
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(x, labels))
    for train, test in splits:
        out[test] = fit(x[train], labels[train], num_classes, C=C).predict_proba(x[test])
    return out


# -- the live head: fits in a separate process ------------------------------------------------

# Worker-process state: the last head, for a warm start on the next refit.
_last_head: LinearHead | None = None


def _worker_init() -> None:
    # The labeler keeps the other core: a lower priority and one BLAS thread for the fit.
    try:
        os.nice(10)
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # threadpoolctl missing or a BLAS it cannot drive: fit anyway
        pass


def _load(embeddings: np.ndarray | str | os.PathLike) -> np.ndarray:
    if isinstance(embeddings, np.ndarray):
        return embeddings
    return np.load(Path(embeddings), mmap_mode="r")


def _refit(embeddings, rows: np.ndarray, labels: np.ndarray, num_classes: int,
           query: np.ndarray | None, C: float) -> tuple[LinearHead, np.ndarray | None]:
    """In the worker: fit on ``embeddings[rows]`` and predict ``embeddings[query]``
    (every row when ``query`` is None)."""
    global _last_head
    emb = _load(embeddings)
    rows = np.asarray(rows, dtype=np.int64)
    head = fit(emb[rows], labels, num_classes, C=C, warm=_last_head)
    _last_head = head
    probs = head.predict_proba(emb if query is None else emb[np.asarray(query, np.int64)])
    return head, probs


class LiveHead:
    """Refits a ``LinearHead`` in one spawned worker process (started on first use).

    ``refit`` returns a ``Future``; a refit asked for while an earlier refit is still queued
    (not yet running) cancels that one: its ``result()`` raises ``CancelledError`` (only the
    newest labels matter). ``call`` futures are never cancelled. Call ``close()`` when done.
    """

    def __init__(self, *, C: float = DEFAULT_C) -> None:
        self.C = C
        self._executor: ProcessPoolExecutor | None = None
        self._queued_refit: Future | None = None

    def refit(self, embeddings: np.ndarray | str | os.PathLike, rows, labels, num_classes: int,
              query=None) -> Future:
        """Fit on ``embeddings[rows]`` with ``labels`` (column indices); the future's result is
        ``(LinearHead, probs)`` with ``probs`` = ``N x num_classes`` float32 for
        ``embeddings[query]`` (every row when ``query`` is None).

        ``embeddings`` may be a path to a ``.npy`` file (e.g. a run's ``embeddings.npy``): the
        worker opens it memory-mapped, so a million rows are not copied between processes.
        """
        labels = np.asarray(labels, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) != len(labels):
            raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
        if not isinstance(embeddings, np.ndarray):
            embeddings = os.fspath(embeddings)
        if self._queued_refit is not None:
            self._queued_refit.cancel()  # a no-op once it runs
        future = self._submit(_refit, embeddings, rows, labels, num_classes, query, self.C)
        self._queued_refit = future
        return future

    def call(self, fn, *args, **kwargs) -> Future:
        """Run a module-level function in the worker (e.g. ``typical.typical_first``), so that
        scikit-learn work stays off the labeler's process too."""
        return self._submit(fn, *args, **kwargs)

    def _submit(self, fn, *args, **kwargs) -> Future:
        for attempt in (1, 2):
            try:
                future = self._pool().submit(fn, *args, **kwargs)
                break
            except BrokenProcessPool:
                # The worker died (killed, out of memory): start a fresh one, once.
                self._executor = None
                if attempt == 2:
                    raise
        return future

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            import multiprocessing

            # spawn: the worker starts clean (no copy of the labeler's threads or locks) and
            # imports only this module, numpy and scikit-learn.
            self._executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init)
        return self._executor

    def close(self) -> None:
        """Stop the worker without waiting for a fit in progress."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # ProcessPoolExecutor has no public way to stop a running task; a refit can take a
        # second or more, which would hold up the labeler's exit.
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()

    def __enter__(self) -> LiveHead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

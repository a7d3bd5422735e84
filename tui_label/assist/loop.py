"""The model in the labeling loop, without a screen.

``ModelLoop`` loads the latest run's predictions when they are newer than the model the labeler
has, refits the live head (in its own process, started on first use), remembers predictions
that could not be read (said once), and decides after each key's write whether to refit the
live head, start a training run, or do nothing. It returns values: the screen runs the slow
calls in thread workers and posts what they return.

No textual and no torch; numpy (through ``model_view``) and scikit-learn (in the live head's
process) load only when a model does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_label.store import Store

if TYPE_CHECKING:
    from tui_label.assist.live_head import LiveHead
    from tui_label.assist.model_view import ModelView


@dataclass(frozen=True)
class Decision:
    """What to do after a key's write: refit the live head, start a run, both or neither."""

    refit: bool = False
    train: bool = False


@dataclass(frozen=True)
class Loaded:
    """The outcome of a load that found newer predictions: the model (None: no predicted
    run), or the predictions that could not be read and why."""

    model: ModelView | None = None
    failed: tuple[int, str] | None = None  # (run id, predicted at)
    reason: str = ""


class ModelLoop:
    """Model-in-the-loop policy and the live head's process for one labeling session.

    Args:
        db: the database (each call opens its own connection: calls come from worker threads).
        live_head_every: refit the live head after this many new labels (0: never).
        auto_train: start a training run after this many new labels (0: never).
        multi_label: suggestions and model orders are single-label: no model, no live head.
        before_head: called once, right before the live head's process starts (the labeler
            starts multiprocessing's resource tracker there).
    """

    def __init__(self, db: Path, *, live_head_every: int = 0, auto_train: int = 0,
                 multi_label: bool = False,
                 before_head: Callable[[], object] = lambda: None) -> None:
        self.db = db
        self.multi_label = multi_label
        self.live_head_every = 0 if multi_label else live_head_every
        self.auto_train = auto_train
        self._before_head = before_head
        self._head: LiveHead | None = None
        self._head_lock = threading.Lock()
        self._live_mark = 0  # labels made at the last refit
        self._train_mark = 0  # labels made when the last run started
        self.failed: tuple[int, str] | None = None  # predictions that could not be read

    # -- policy ---------------------------------------------------------------------------

    def after_labels(self, made: int, model: ModelView | None, *,
                     training_active: bool) -> Decision:
        """After a key's write (``made`` labels so far): refit when ``live_head_every`` labels
        are new since the last refit and the run has embeddings; train when ``auto_train``
        labels are new since the last run started and none is running."""
        refit = bool(self.live_head_every and model is not None
                     and made - self._live_mark >= self.live_head_every
                     and model.predictions.embeddings is not None)
        if refit:
            self._live_mark = made
        train = bool(self.auto_train and made - self._train_mark >= self.auto_train
                     and not training_active)
        if train:
            self._train_mark = made
        return Decision(refit=refit, train=train)

    def training_started(self, made: int) -> None:
        """A run started by hand at ``made`` labels: auto-train counts from here."""
        self._train_mark = made

    # -- the live head's process ----------------------------------------------------------

    def head(self) -> LiveHead:
        """The live head's process (started on first use, from a worker thread)."""
        with self._head_lock:
            if self._head is None:
                # heavy: numpy (scikit-learn loads in the head's own process)
                from tui_label.assist.live_head import LiveHead

                self._before_head()
                self._head = LiveHead()
            return self._head

    def run_elsewhere(self, fn: Callable[..., Any], *args: Any) -> Any:
        """On a worker thread: run ``fn`` in the live head's process and wait for it."""
        return self.head().call(fn, *args).result()

    def with_runner(self, model: ModelView | None) -> ModelView | None:
        """The model, running TypiClust in the live head's process (never in this one)."""
        return model.with_runner(self.run_elsewhere) if model is not None else None

    def close(self) -> None:
        with self._head_lock:
            if self._head is not None:
                self._head.close()
                self._head = None

    # -- loading and refitting (worker threads) -------------------------------------------

    def load(self, current: ModelView | None) -> Loaded | None:
        """The latest run's predictions when they are newer than ``current`` (None: nothing
        new, the same ones that failed before, or a multi-label session)."""
        if self.multi_label:
            return None  # suggestions and model orders are single-label (softmax) for now
        # heavy: numpy
        from tui_label.assist.model_view import ModelUnavailable, ModelView

        store = Store(self.db)
        try:
            run = store.latest_predicted_run()
            latest = (run["id"], run["predicted_at"]) if run else None
            if latest is None or latest == self.failed or (
                    current is not None and (current.run_id, current.predicted_at) == latest):
                return None
            try:
                model = ModelView.load(store)
            except ModelUnavailable as exc:
                self.failed = latest
                return Loaded(failed=latest, reason=str(exc))
        finally:
            store.close()
        return Loaded(model=self.with_runner(model))

    def refit(self, model: ModelView) -> ModelView | None:
        """``model`` with the live head refit on every current label over it; None when there
        is nothing to learn yet (labels of one class) or a newer refit replaced this one."""
        # heavy: numpy
        from tui_label.assist.model_view import fit_live

        store = Store(self.db)
        try:
            live = fit_live(store, model, self.head())
        except CancelledError:
            return None  # replaced by a newer request in the live head's process
        finally:
            store.close()
        return model.with_live(live) if live is not None else None

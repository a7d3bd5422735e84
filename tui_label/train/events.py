"""Trainer events: one JSON object per line on stdout, or readable lines on a terminal.

Kinds, in order: ``warning`` (if any), ``preparing`` (decoding progress), ``started``,
``step`` (throttled), ``epoch`` (with metrics), ``checkpoint``; after the last epoch ``fold``
{fold, folds, num_train, num_held_out} (``--folds K`` only), ``predicting`` {done, total}
(throttled) and ``predicted`` {images, oof, suspects, seconds, predictions} (or a ``warning``
saying why there are no predictions); then one of ``finished``, ``failed``, ``cancelled``.
``tui-label predict`` sends ``warning``, ``predicting`` and ``predicted``. Every event has
``event``, ``run_id`` and ``time``. No torch here.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

STEP_INTERVAL_S = 0.5  # at most two step events a second


class Emitter:
    """Writes events; a closed pipe (the labeler went away) is not an error: the run goes on
    and its results still reach the store."""

    def __init__(self, mode: str = "auto", stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        if mode == "auto":
            mode = "human" if self.stream.isatty() else "json"
        self.mode = mode
        self.run_id: int | None = None
        self._last_step = 0.0
        self._broken = False

    def step_due(self) -> bool:
        """True when a step event may be sent now (throttling)."""
        now = time.monotonic()
        if now - self._last_step >= STEP_INTERVAL_S:
            self._last_step = now
            return True
        return False

    def emit(self, event: str, **data: Any) -> None:
        record = {"event": event, "run_id": self.run_id, "time": time.time(), **data}
        text = json.dumps(record) if self.mode == "json" else human(record)
        if text is None or self._broken:
            return
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._broken = True


def human(e: dict) -> str | None:
    """A readable line for a terminal."""
    kind = e["event"]
    if kind == "started":
        return (f"run {e['run_id']}: {e['model']} on {e['device']}, {e['num_train']} train / "
                f"{e['num_val']} validation images, {len(e['classes'])} classes, "
                f"{e['epochs']} epochs")
    if kind == "warning":
        return f"warning: {e['message']}"
    if kind == "preparing":
        return f"decoding images {e['done']}/{e['total']}" if e["done"] == e["total"] else None
    if kind == "step":
        return (f"  epoch {e['epoch']}/{e['epochs']} step {e['step']}/{e['steps']} "
                f"loss {e['loss']:.4f}  {e['images_per_sec']:.0f} img/s  ETA {e['eta_s']:.0f}s")
    if kind == "epoch":
        return (f"epoch {e['epoch']}/{e['epochs']}: train loss {e['train_loss']:.4f}  "
                f"val loss {e['val_loss']:.4f}  accuracy {e['accuracy']:.3f}  "
                f"macro-F1 {e['macro_f1']:.3f}  ({e['seconds']:.1f}s)")
    if kind == "checkpoint":
        return f"  saved {e['path']}" + (" (best so far)" if e.get("best") else "")
    if kind == "fold":
        return (f"fold {e['fold']}/{e['folds']}: training on {e['num_train']} labeled images, "
                f"holding out {e['num_held_out']}")
    if kind == "predicting":
        return f"predicting {e['done']}/{e['total']} images" if e["done"] == e["total"] else None
    if kind == "predicted":
        return (f"predicted {e['images']} images in {e['seconds']:.1f}s: {e['oof']} "
                f"out-of-sample, {e['suspects']} suspect label(s)")
    if kind == "finished":
        return (f"finished: best accuracy {e['best_accuracy']:.3f}, "
                f"checkpoint {e['best_checkpoint']}")
    if kind in ("failed", "cancelled"):
        return f"{kind}: {e['reason']}"
    return None

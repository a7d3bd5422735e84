"""Writing trainer events (``Emitter``): one JSON object per line on stdout, or readable output
for a person. The kinds and their fields are in ``runs/events.py``; every event written is
first parsed there, so a trainer that sends a malformed one fails its tests, not a reader.

The human mode on an interactive terminal draws progress bars with rich (preparing, caching,
training, predicting) and prints every other event as a line above them; written anywhere else
(a pipe, a file, CI) it prints plain lines, without escape codes. No torch, no textual here.
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from typing import IO, Any

from tui_label.runs.events import (
    TERMINAL,
    Cached,
    Caching,
    Checkpoint,
    Ended,
    Epoch,
    Event,
    Finished,
    Fold,
    Pass,
    Predicted,
    Predicting,
    Preparing,
    Started,
    Step,
    Warned,
    parse,
)

STEP_INTERVAL_S = 0.5  # at most two step events a second
WRITE_ERRORS = (BrokenPipeError, OSError, ValueError)  # ValueError: a closed stream
PASSES: dict[type[Pass], str] = {Preparing: "preparing images", Caching: "caching images",
                                 Predicting: "predicting"}  # one bar per pass
STYLES = {"warning": "yellow", "failed": "bold red", "cancelled": "yellow",
          "finished": "bold green"}


class Emitter:
    """Writes events; a closed pipe (the labeler went away) is not an error: the run goes on
    and its results still reach the store.

    ``console`` (a rich Console) draws the human mode's progress bars on it, whatever the
    stream: for tests, and for callers that own a console."""

    def __init__(self, mode: str = "auto", stream: IO[str] | None = None, *,
                 console: Any = None) -> None:
        self.stream = stream or sys.stdout
        if mode == "auto":
            mode = "human" if _isatty(self.stream) else "json"
        self.mode = mode
        self.run_id: int | None = None
        self._last_step = 0.0
        self._broken = False
        self._bars: Bars | None = None
        if mode == "human" and (console is not None or _isatty(self.stream)):
            self._bars = Bars.on(console, self.stream)

    @property
    def draws_bars(self) -> bool:
        """True when progress is drawn as bars (an interactive terminal), not as lines."""
        return self._bars is not None

    def step_due(self) -> bool:
        """True when a step event may be sent now (throttling)."""
        now = time.monotonic()
        if now - self._last_step >= STEP_INTERVAL_S:
            self._last_step = now
            return True
        return False

    def emit(self, event: str, **data: Any) -> None:
        if self._broken:
            return
        record = {"event": event, "run_id": self.run_id, "time": time.time(), **data}
        typed = parse(record)
        assert typed is not None, f"an event of no known kind: {event}"
        try:
            if self._bars is not None:
                self._bars.show(typed)
                return
            text = json.dumps(record) if self.mode == "json" else human(typed)
            if text is not None:
                self.stream.write(text + "\n")
                self.stream.flush()
        except WRITE_ERRORS:
            self._broken = True
            if self._bars is not None:
                self._bars.abandon()

    def close(self) -> None:
        """Take the bars down (they also go at the run's end and at exit)."""
        if self._bars is not None:
            try:
                self._bars.stop()
            except WRITE_ERRORS:
                self._broken = True
                self._bars.abandon()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Bars:
    """The human mode on a terminal: a bar per pass (preparing, caching, predicting) and per
    run's training, drawn by rich; the other events as lines printed above the bars.

    Bars are transient: a finished pass leaves its plain line (``caching images 500/500``)
    and the screen ends with the same lines as the plain mode, less the step lines. No
    refresh thread: the display is redrawn on each event (the trainer sends at most two
    progress events a second), so nothing writes behind the trainer's back."""

    def __init__(self, console: Any) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.console = console
        # rich's default answer to a broken pipe is to point stdout at /dev/null and exit:
        # the run must go on instead (its results still reach the store).
        console.on_broken_pipe = self._on_broken_pipe
        redirect = console.file is sys.stdout  # stray prints then go above the bars
        self.progress = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(),
            TextColumn("{task.fields[counts]}", markup=False),
            TextColumn("{task.fields[detail]}", markup=False),
            console=console, auto_refresh=False, transient=True, redirect_stdout=redirect,
            redirect_stderr=redirect and _isatty(sys.stderr))
        self.tasks: dict[str, Any] = {}  # pass kind or "train" -> rich task id
        self.begun: dict[str, tuple[float, int, int]] = {}  # pass -> (time, done, total)
        self.live = False

    @classmethod
    def on(cls, console: Any, stream: IO[str]) -> Bars | None:
        """Bars on ``console`` (or a console on ``stream``), or None where the console
        cannot redraw (a dumb terminal): then the plain lines serve."""
        if console is None:
            from rich.console import Console

            console = Console(file=stream)
        return cls(console) if console.is_interactive else None

    def show(self, e: Event) -> None:
        if isinstance(e, Pass):
            self._pass(e)
        elif isinstance(e, Step):
            self._step(e)
        elif isinstance(e, Started):
            self._print(e)
            self._training(e)
        elif isinstance(e, Epoch):
            self._print(e)
            if e.epoch >= e.epochs:
                self._drop("train")
        elif isinstance(e, TERMINAL):
            self.stop()
            self._print(e)
        else:
            self._print(e)  # printing redraws the bars below the line

    def _pass(self, e: Pass) -> None:
        kind, done, total = e.kind, e.done, e.total
        if kind in self.tasks and (self.begun[kind][2] != total or done < self.begun[kind][1]):
            self._drop(kind)  # a new pass (the training images, then the validation ones)
        if e.complete:
            self._drop(kind)
            self._print(e)
            return
        now = time.monotonic()
        if kind not in self.tasks:
            self.begun[kind] = (now, done, total)
        since, first, _ = self.begun[kind]
        rate = (done - first) / (now - since) if done > first and now > since else 0.0
        eta = f"ETA {(total - done) / rate:.0f}s" if rate else ""
        decoded_now = getattr(e, "decoded", None)
        decoded = f"{decoded_now} decoded" if decoded_now is not None else ""
        self._set(kind, PASSES[type(e)], total, done, f"{done}/{total}",
                  "  ".join(x for x in (decoded, eta) if x))

    def _training(self, e: Started) -> None:
        self._drop("train")
        self._set("train", f"run {e.run_id}", e.epochs * e.steps, 0,
                  f"epoch 1/{e.epochs} step 0/{e.steps}", "")

    def _step(self, e: Step) -> None:
        # Without a started event (a display joining late) the bar starts here.
        self._set("train", f"run {e.run_id}", e.epochs * e.steps,
                  (e.epoch - 1) * e.steps + e.step,
                  f"epoch {e.epoch}/{e.epochs} step {e.step}/{e.steps}",
                  f"loss {e.loss:.4f}  {e.images_per_sec:.0f} img/s  ETA {e.eta_s:.0f}s")

    def _set(self, key: str, description: str, total: int, completed: int, counts: str,
             detail: str) -> None:
        """Show a bar's state: a new bar (and the display, when it is the first), or an
        update of the one there."""
        if key in self.tasks:
            self.progress.update(self.tasks[key], completed=completed, counts=counts,
                                 detail=detail)
            self.progress.refresh()
            return
        self.tasks[key] = self.progress.add_task(description, total=total,
                                                 completed=completed, counts=counts,
                                                 detail=detail)
        if not self.live:
            atexit.register(self.abandon)  # an exit that skips the last event
            self.live = True  # before start: a failed first draw still gets stopped
            self.progress.start()
            # A second Ctrl+C ends the process at once (see stopper.py): a hidden cursor
            # would stay hidden in the user's shell.
            self.console.show_cursor(True)
        else:
            self.progress.refresh()

    def _drop(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)
        if self.live and not self.tasks:
            self.stop()

    def _print(self, e: Event) -> None:
        text = human(e)
        if text is not None:
            from rich.text import Text  # styled as a Text: print's style would tint the bars

            self.console.print(Text(text, style=STYLES.get(e.kind, "")), soft_wrap=True)

    def stop(self) -> None:
        """Take every bar down, restore the cursor and stdout; idempotent."""
        for key in list(self.tasks):
            self.progress.remove_task(self.tasks.pop(key))
        if self.live:
            self.live = False
            atexit.unregister(self.abandon)
            self.progress.stop()

    def _on_broken_pipe(self) -> None:
        self.console.quiet = True  # nothing more is written
        raise BrokenPipeError("the reader of the progress bars went away")

    def abandon(self) -> None:
        """The stream is gone: stop without caring whether the last writes get through."""
        try:
            self.stop()
        except Exception:  # a display half started on a dead stream: nothing to save
            pass
        finally:
            self.live = False
            self.tasks.clear()
            atexit.unregister(self.abandon)


def _prepared(e: Started) -> str:
    """How the run's images became ready: decoded now, or read from the decode cache."""
    if e.prepared_s is None:  # an event of an older trainer
        return ""
    how = f"{e.decoded} decoded" if e.decoded else "all from the decode cache"
    return f"; images ready in {e.prepared_s:.1f}s ({how})"


def _unlabeled(e: Started) -> str:
    return f" + {e.num_unlabeled} unlabeled" if e.num_unlabeled else ""


def human(e: Event) -> str | None:
    """A readable line for a terminal, or None for an event that has none (a pass not yet
    complete)."""
    if isinstance(e, Started):
        ranks = f" x {e.world_size} processes (DDP)" if e.world_size > 1 else ""
        precision = f" ({e.precision})" if e.precision != "fp32" else ""
        return (f"run {e.run_id}: {e.model} on {e.device}{precision}{ranks}, {e.num_train} "
                f"train / {e.num_val} validation images{_unlabeled(e)}, {len(e.classes)} "
                f"classes, "
                f"{e.epochs} epochs{_prepared(e)}")
    if isinstance(e, Warned):
        return f"warning: {e.message}"
    if isinstance(e, Step):
        return (f"  epoch {e.epoch}/{e.epochs} step {e.step}/{e.steps} "
                f"loss {e.loss:.4f}  {e.images_per_sec:.0f} img/s  ETA {e.eta_s:.0f}s")
    if isinstance(e, Epoch):
        return _epoch_line(e)
    if isinstance(e, Checkpoint):
        return f"  saved {e.path}" + (" (best so far)" if e.best else "")
    if isinstance(e, Fold):
        return (f"fold {e.fold}/{e.folds}: training on {e.num_train} labeled images, "
                f"holding out {e.num_held_out}")
    if isinstance(e, Cached):
        return (f"cached {e.images} images in {e.seconds:.1f}s: {e.decoded} decoded, "
                f"{e.reused} already cached, {e.unreadable} unreadable ({e.folder})")
    if isinstance(e, Pass):
        return _pass_line(e) if e.complete else None
    if isinstance(e, Predicted):
        return (f"predicted {e.images} images in {e.seconds:.1f}s: {e.oof} "
                f"out-of-sample, {e.suspects} suspect label(s)")
    if isinstance(e, Finished):
        return (f"finished: best accuracy {e.best_accuracy:.3f}, "
                f"checkpoint {e.best_checkpoint}")
    if isinstance(e, Ended):
        return f"{e.kind}: {e.reason}"
    return None


def _epoch_line(e: Epoch) -> str:
    r = e.report
    if r.multi_label:  # exact-match accuracy, micro-F1
        scores = (f"exact-match accuracy {r.accuracy:.3f}  micro-F1 {r.micro_f1:.3f}  "
                  f"macro-F1 {r.macro_f1:.3f} at threshold {r.threshold:.2f}")
    else:
        scores = f"accuracy {r.accuracy:.3f}  macro-F1 {r.macro_f1:.3f}"
    return (f"epoch {e.epoch}/{e.epochs}: train loss {e.train_loss:.4f}  "
            f"val loss {e.val_loss:.4f}  {scores}  ({e.seconds:.1f}s)")


def _pass_line(e: Pass) -> str:
    if isinstance(e, Caching):
        return f"caching images {e.done}/{e.total} ({e.decoded} decoded)"
    if isinstance(e, Predicting):
        return f"predicting {e.done}/{e.total} images"
    return f"preparing images {e.done}/{e.total}{_how(e)}"


def _how(e: Pass) -> str:
    """How a run's pass made its images ready, in one true statement (issue 17.9): decoded
    now, read from the decode cache, or some of each (an older trainer does not say)."""
    decoded = e.decoded if isinstance(e, Preparing) else None
    if decoded is None:
        return ""
    cached = e.done - decoded
    if not cached:
        return f" ({decoded} decoded)"
    if not decoded:
        return f" ({cached} from the decode cache)"
    return f" ({decoded} decoded, {cached} from the decode cache)"

"""Runs the trainer for the labeler: a subprocess whose JSON events feed the panel, or, for a
run started elsewhere (before the app (re)opened, by ``tui-label train``, by another labeler),
the store polled once a second: the panel shows the database's latest run.

The controller knows no screen, widget or message class: it gets the database path, the
dataset folder and four callbacks: ``on_event`` (a typed trainer event, called on the reader
thread: the labeler posts it to its UI thread, which hands it back to ``on_event``),
``changed`` (a new state to draw), ``notify`` (a notice for a person) and ``set_interval`` (a
poll). No textual, and torch is never imported here: the trainer is another process in a
session of its own, so neither a crash of it nor a closed terminal affects the other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tui_label.config.paths import runs_dir
from tui_label.core.procs import pid_alive
from tui_label.errors import UsageError
from tui_label.runs.events import Event, Exited, Finished, Predicted, parse_line
from tui_label.runs.options import TrainOptions
from tui_label.runs.resume import run_to_resume
from tui_label.runs.state import RunState, trainer_command
from tui_label.store import Store

POLL_SECONDS = 1.0
REAP_BUSY_MS = 100  # marking a dead run failed is best effort: never block the UI on a lock
# The labeler keeps priority on a shared CPU, and reads the trainer's events as JSON.
PANEL_FIXED: dict[str, Any] = {"events": "json", "nice": 10}
SETTINGS_KEY = "train_panel"  # the panel's settings, JSON, in the store's settings table


class Notify(Protocol):
    def __call__(self, message: str, *, severity: str = ..., timeout: float | None = ...,
                 markup: bool = ...) -> Any: ...


class Timer(Protocol):
    def stop(self) -> Any: ...


class TrainingController:
    """Owns at most one run at a time and keeps ``state`` current: the run started here while
    its trainer runs, else the database's latest run.

    Args:
        db: The database; the controller opens its own connection to follow runs.
        root: The dataset folder, passed to the trainer.
        on_event: Called on the reader thread with each event of a run started here, and an
            ``Exited`` at its end; the caller passes each back to ``on_event`` on its own
            thread (the labeler posts a message to its UI thread).
        changed: Called with the new ``state`` after each change, on the caller's thread.
        notify: ``Widget.notify``-like; called with ``markup=False`` (reasons hold paths
            and class names).
        set_interval: ``Widget.set_interval``-like: calls back every so many seconds until
            the returned timer is stopped.
    """

    def __init__(self, db: Path, root: Path, *, on_event: Callable[[Event], object],
                 changed: Callable[[RunState], object], notify: Notify,
                 set_interval: Callable[[float, Callable[[], None]], Timer]) -> None:
        self.db = Path(db)
        self.root = root
        self._forward = on_event
        self._report = changed
        self._notify = notify
        self._set_interval = set_interval
        self.state = RunState()
        self.process: subprocess.Popen | None = None
        self._store: Store | None = None
        self._poll_timer: Timer | None = None
        self._seen = 0  # the newest run id shown: a newer one is switched to

    # -- following a run in the store -----------------------------------------------------

    def attach(self) -> None:
        """Show the latest run from the store, then watch the store once a second: a run shown
        that is still going is followed, and a newer run (``tui-label train``, another
        labeler's panel) is shown as soon as its row appears."""
        store = self._open_store()
        if store is None:
            return
        store.try_reap_dead_runs(REAP_BUSY_MS)
        latest = store.latest_run_id()
        if latest is not None:
            self._seen = latest
            self._set_state(RunState.from_store(store, latest))
        if self._poll_timer is None:
            self._poll_timer = self._set_interval(POLL_SECONDS, self._poll)

    def _open_store(self) -> Store | None:
        if self._store is None:
            try:
                self._store = Store(self.db, create=False)
            except UsageError as exc:
                self._notify(f"Cannot follow training runs: {exc}", severity="warning",
                             timeout=6, markup=False)
        return self._store

    def _poll(self) -> None:
        """Switch to a newer run, or refresh a run shown from the store while it goes. A run
        started here is drawn from its events until its trainer exits."""
        store = self._open_store()
        if store is None or self.process is not None:
            return
        self._seen = max(self._seen, self.state.run_id or 0)
        latest = store.latest_run_id()
        if latest is not None and latest > self._seen:
            self._seen = latest
            store.try_reap_dead_runs(REAP_BUSY_MS)
            self._set_state(RunState.from_store(store, latest))
            self._notify(f"Run {latest} started elsewhere (tui-label train or another "
                         "labeler): the panel follows it.", timeout=4, markup=False)
        elif self.state.active and self.state.run_id is not None:
            store.try_reap_dead_runs(REAP_BUSY_MS)
            self._set_state(RunState.from_store(store, self.state.run_id))

    def close(self) -> None:
        """Stop following (the run itself goes on) and close the connection."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def _set_state(self, state: RunState) -> None:
        self.state = state
        self._changed()

    def _changed(self) -> None:
        self._report(self.state)

    # -- the panel's settings, kept in the database ---------------------------------------

    def saved_settings(self) -> dict[str, str]:
        """The panel's settings (text by field name) as last saved in this database: ``{}``
        when none were, or what was stored cannot be read."""
        store = self._open_store()
        text = store.get_setting(SETTINGS_KEY) if store is not None else None
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def save_settings(self, settings: dict[str, str]) -> None:
        """Keep the panel's settings in the database for the next session (best effort: a
        locked or read-only database is a notice, never an error)."""
        store = self._open_store()
        if store is None or settings == self.saved_settings():
            return
        try:
            store.set_setting(SETTINGS_KEY, json.dumps(settings, sort_keys=True))
        except UsageError as exc:  # StoreWriteError: locked, read-only, disk full
            self._notify(f"The training settings were not saved: {exc}", severity="warning",
                         timeout=4, markup=False)

    # -- a run of our own -----------------------------------------------------------------

    def start(self, settings: dict[str, str]) -> None:
        """Start a run with the panel's settings (text by field name), or say why not."""
        if self.state.active:
            self._notify("A run is already going: T stops it.", severity="warning",
                         markup=False)
            return
        try:
            opts = TrainOptions.from_settings(self.db, self.root, settings, **PANEL_FIXED)
        except UsageError as exc:
            self._notify(str(exc), severity="error", timeout=6, markup=False)
            return
        self.save_settings(settings)
        self._launch(opts, RunState(status="starting", model=opts.model))

    def resume(self) -> bool:
        """Resume the run shown (``--resume``) when it was cancelled or failed after an epoch,
        or say why not. Returns whether a trainer was started."""
        if self.state.active:
            self._notify("A run is already going: T stops it.", severity="warning",
                         markup=False)
            return False
        store = self._open_store()
        run_id = self.state.run_id
        if store is None:
            return False
        if run_id is None or not self.state.resumable:
            self._notify("Nothing to resume: R resumes the last run when it was cancelled or "
                         "failed after an epoch.", severity="warning", timeout=5, markup=False)
            return False
        try:  # the trainer checks the same: here a refusal is a notice, not a failed run
            run_to_resume(store, run_id)
        except UsageError as exc:
            self._notify(f"Cannot resume run {run_id}: "
                         f"{str(exc).removeprefix(f'--resume {run_id}: ')}",
                         severity="error", timeout=6, markup=False)
            return False
        state = RunState.from_store(store, run_id)  # its epochs so far stay on the curve
        state.status, state.reason = "starting", None
        self._launch(TrainOptions(db=self.db, root=self.root, resume=run_id, **PANEL_FIXED),
                     state)
        return True

    def _launch(self, opts: TrainOptions, state: RunState) -> None:
        """Start the trainer with ``opts``, showing ``state`` until its events arrive."""
        self._set_state(state)  # the poll leaves it to its events while the trainer runs
        log_path = runs_dir(opts.db) / "trainer.log"
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            offset = log_path.stat().st_size if log_path.exists() else 0
            with open(log_path, "ab") as log:
                # Its own session: a closed terminal or Ctrl+C in the labeler does not reach
                # it. A plain Popen, not asyncio's: asyncio kills a child still running when
                # its transport is collected, and a run must outlive the labeler.
                self.process = subprocess.Popen(
                    trainer_command(opts), stdout=subprocess.PIPE, stderr=log,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
        except OSError as exc:
            self.state.status, self.state.reason = "failed", f"cannot start the trainer: {exc}"
            self._changed()
            return
        self.state.pid = self.process.pid
        # A daemon thread reads the events, so quitting the app never waits for the run.
        threading.Thread(target=self._read_events, args=(self.process, log_path, offset),
                         name="trainer-events", daemon=True).start()

    def _read_events(self, process: subprocess.Popen, log_path: Path, offset: int) -> None:
        """On the reader thread: forward each event (posting is thread-safe)."""
        assert process.stdout is not None
        for line in process.stdout:
            event = parse_line(line)
            if event is not None:
                self._forward(event)
        code = process.wait()
        self._forward(Exited(code=code, log=str(log_path), offset=offset))

    def on_event(self, event: Event) -> bool:
        """On the caller's thread: fold one event into the state. True when the event brought
        new predictions (a run's ``predicted`` or ``finished``): load them."""
        if not isinstance(event, Exited):
            self.state.apply(event)
            self._changed()
            return isinstance(event, (Predicted, Finished))
        self.process = None
        if self.state.active:  # ended without a final event: usage error or a crash
            self.state.status = "failed"
            self.state.reason = (_last_error(Path(event.log), event.offset)
                                 or f"trainer exited with code {event.code}")
        self._changed()
        if self.state.status in ("failed", "finished", "cancelled"):
            self._notify(f"Training {self.state.status}"
                         + (f": {self.state.reason}" if self.state.reason else ""),
                         severity="error" if self.state.status == "failed" else "information",
                         timeout=6, markup=False)
        return False

    def stop(self) -> None:
        """Ask the running trainer to stop after its current step."""
        pid = self.process.pid if self.process else self.state.pid
        if pid and pid_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError as exc:  # another user's run on a shared database
                self._notify(f"Cannot stop run (pid {pid}): {exc.strerror}",
                             severity="error", timeout=5, markup=False)
                return
            self._notify("Stopping after the current step…", timeout=3, markup=False)


def _last_error(log: Path, offset: int = 0) -> str | None:
    """The last line this run wrote to the trainer log (it is shared by all runs)."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1].removeprefix("tui-label: error: ") if lines else None

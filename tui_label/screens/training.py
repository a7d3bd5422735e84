"""Runs the trainer for the labeling screen: an asyncio subprocess whose JSON events feed the
panel, or, for a run started before the app (re)opened, the store polled once a second.

Torch is never imported here: the trainer is another process (``python -m tui_label.train``)
in a session of its own, so neither a crash of it nor a closed terminal affects the other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from tui_label.errors import UsageError
from tui_label.paths import runs_dir
from tui_label.store import pid_alive
from tui_label.train.options import TrainOptions
from tui_label.training import RunState, trainer_command

if TYPE_CHECKING:
    from tui_label.screens.label import LabelScreen

POLL_SECONDS = 1.0


class TrainerEvent(Message):
    """One JSON event from the trainer's stdout (or its exit)."""

    def __init__(self, event: dict) -> None:
        super().__init__()
        self.event = event


def options_from_settings(db, root, settings: dict) -> TrainOptions:
    """Turn the panel's text fields into validated options (UsageError on bad input)."""

    def number(name: str, kind, label: str):
        text = settings.get(name, "").strip()
        if text in ("", "auto"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise UsageError(f"{label}: {text!r} is not a number") from None

    opts = TrainOptions(
        db=db, root=root, model=settings.get("model", "").strip() or "small-cnn",
        epochs=_default(number("epochs", int, "epochs"), 10), lr=number("lr", float, "lr"),
        batch_size=_default(number("batch_size", int, "batch"), 64),
        image_size=number("image_size", int, "size"), device=settings.get("device", "auto"),
        events="json", nice=10,  # the labeler keeps priority on a shared CPU
    )
    opts.validate()
    return opts


def _default(value, default):
    return default if value is None else value


class TrainingController:
    """Owns at most one run at a time for the screen and keeps ``state`` current."""

    def __init__(self, screen: LabelScreen) -> None:
        self.screen = screen
        self.state = RunState()
        self.process: subprocess.Popen | None = None
        self._poll_timer = None

    def _show(self) -> None:
        from tui_label.widgets.train_panel import TrainPanel

        panel = self.screen.query_one(TrainPanel)
        if panel.display:
            panel.show_state(self.state)

    def attach(self) -> None:
        """Show the last run from the store; follow it if it is still going."""
        store = self.screen.store
        store.reap_dead_runs()
        latest = store.latest_run()
        if latest is None:
            return
        self.state = RunState.from_store(store, latest["id"])
        if self.state.status == "running":
            self._poll_timer = self.screen.set_interval(POLL_SECONDS, self._poll)

    def _poll(self) -> None:
        store = self.screen.store
        store.reap_dead_runs()
        self.state = RunState.from_store(store, self.state.run_id)
        if not self.state.active and self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        self._show()

    def start(self, settings: dict) -> None:
        if self.state.active:
            self.screen.notify("A run is already going: T stops it.", severity="warning")
            return
        try:
            opts = options_from_settings(self.screen.store.path, self.screen.root, settings)
        except UsageError as exc:
            self.screen.notify(str(exc), severity="error", timeout=6)
            return
        self.state = RunState(status="starting", model=opts.model)
        self._show()
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
            self._show()
            return
        self.state.pid = self.process.pid
        # A daemon thread reads the events, so quitting the app never waits for the run.
        threading.Thread(target=self._read_events, args=(self.process, log_path, offset),
                         name="trainer-events", daemon=True).start()

    def _read_events(self, process: subprocess.Popen, log_path: Path, offset: int) -> None:
        """On the reader thread: forward each event to the screen (thread-safe messages)."""
        assert process.stdout is not None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                self.screen.post_message(TrainerEvent(event))
        code = process.wait()
        self.screen.post_message(TrainerEvent({"event": "exited", "code": code,
                                               "log": str(log_path), "offset": offset}))

    def on_event(self, event: dict) -> None:
        """On the UI thread: fold an event into the state and show it."""
        if event.get("event") != "exited":
            self.state.apply(event)
            self._show()
            return
        self.process = None
        if self.state.active:  # ended without a final event: usage error or a crash
            self.state.status = "failed"
            self.state.reason = (_last_error(Path(event["log"]), event["offset"])
                                 or f"trainer exited with code {event['code']}")
        self._show()
        if self.state.status in ("failed", "finished", "cancelled"):
            self.screen.notify(f"Training {self.state.status}"
                               + (f": {self.state.reason}" if self.state.reason else ""),
                               severity="error" if self.state.status == "failed" else
                               "information", timeout=6)

    def stop(self) -> None:
        pid = self.process.pid if self.process else self.state.pid
        if pid and pid_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError as exc:  # another user's run on a shared database
                self.screen.notify(f"Cannot stop run (pid {pid}): {exc.strerror}",
                                   severity="error", timeout=5)
                return
            self.screen.notify("Stopping after the current step…", timeout=3)


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

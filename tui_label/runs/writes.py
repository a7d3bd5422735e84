"""The trainer's database writes, for when another process holds the write lock.

A labeler, a backup or a ``sqlite3`` shell may hold it for a while. Progress writes are best
effort: they wait briefly and are dropped. The writes a run cannot do without (its epochs,
checkpoint paths and final status) are retried with backoff for a bounded time, then the run
fails with the reason. No torch here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tui_label.runs.emit import Emitter
from tui_label.store import Store, StoreWriteError

T = TypeVar("T")


@dataclass(frozen=True)
class WritePolicy:
    """How long the trainer waits for the database when another process holds its lock."""

    busy_timeout_ms: int | None = None  # each write; None: the store's default (30 s)
    progress_timeout_ms: int = 250  # a progress write gives up after this: best effort
    retry_for_s: float = 300.0  # epoch, checkpoint and status writes: retried this long in all
    max_delay_s: float = 10.0  # the longest pause between two tries


class RunWriter:
    """The trainer's writes: progress is best effort, everything else is retried."""

    def __init__(self, store: Store, emitter: Emitter, policy: WritePolicy) -> None:
        self.store, self.emitter, self.policy = store, emitter, policy
        self._progress_warned = False

    def progress(self, run_id: int, progress: dict) -> bool:
        """Store the live progress if the lock is free soon; returns whether it was stored."""
        try:
            with self.store.busy_timeout(self.policy.progress_timeout_ms):
                self.store.update_run(run_id, progress=progress)
            return True
        except StoreWriteError as exc:
            if not self._progress_warned:  # once: the next ones would say the same
                self._progress_warned = True
                self.emitter.emit("warning", message=f"{exc}: progress is not being saved for "
                                  "now; training goes on")
            return False

    def must(self, what: str, write: Callable[..., T], *args, **kwargs) -> T:
        """Call ``write(*args, **kwargs)`` until it succeeds, with backoff, for
        ``policy.retry_for_s`` in all.

        Raises:
            StoreWriteError: still failing at the end (or read-only: no retry), the message
                says what was not saved.
        """
        deadline = time.monotonic() + self.policy.retry_for_s
        delay, tries = 0.05, 0
        while True:
            tries += 1
            try:
                return write(*args, **kwargs)
            except StoreWriteError as exc:
                if exc.kind == "readonly" or time.monotonic() + delay > deadline:
                    times = "1 try" if tries == 1 else f"{tries} tries"
                    raise StoreWriteError(exc.kind, f"could not save {what} to the database "
                                          f"after {times}: {exc}") from None
                if tries == 1:
                    self.emitter.emit("warning", message=f"{exc}: could not save {what} yet; "
                                      "retrying")
            time.sleep(delay)
            delay = min(delay * 2, self.policy.max_delay_s)

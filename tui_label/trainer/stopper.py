"""Cancelling a run: installed before torch is imported, so a stop request that comes while
the trainer is still starting is not the default (fatal) signal action. No torch here."""

from __future__ import annotations

import signal


class Stopper:
    """SIGINT / SIGTERM ask the loop to stop after the current step."""

    def __init__(self) -> None:
        self.requested: str | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = signal.Signals(signum).name
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl+C ends it at once

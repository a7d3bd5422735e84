"""Keep Python's garbage collection out of the key-to-image path.

Automatic full collections took 60-200 ms at random keypresses. Instead, the objects made at
start-up are frozen out of collection, young objects are collected every second (a few ms),
and a full collection runs only when no key has come for a while. Most objects here are
acyclic and freed by reference counting anyway. No textual here: the screen calls ``tick``.
"""

from __future__ import annotations

import gc
import time

IDLE_SECONDS = 3.0


class QuietGC:
    """Automatic collection off; ``tick`` (once a second) collects when it is cheap."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self.taken = False
        self._idle_collected = False

    def take_over(self) -> None:
        gc.freeze()
        gc.disable()
        self.taken = True

    def tick(self, last_key: float) -> None:
        """``last_key`` is ``perf_counter()`` of the latest key."""
        idle = time.perf_counter() - last_key > self.idle_seconds
        if idle and not self._idle_collected:
            gc.unfreeze()  # objects dropped since the last freeze are collectable again
            gc.collect()
            gc.freeze()
            self._idle_collected = True
        elif not idle:
            gc.collect(1)
            self._idle_collected = False

    def release(self) -> None:
        if self.taken:
            gc.unfreeze()
            gc.enable()
            self.taken = False

"""What every part of the store shares: the one connection, whose labels it writes, and the
write transaction. ``tui_label.store.Store`` (the facade) opens the connection and implements
the transaction; the parts (images, labels, queue, team, runs, predictions, reports) are its
mixins and read these attributes only.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

from sqlite_utils import Database


class StoreBase:
    path: Path
    annotator: str  # recorded with each event this connection writes
    readonly: bool
    conn: sqlite3.Connection
    db: Database

    def _write(self) -> AbstractContextManager[None]:
        """A short ``BEGIN IMMEDIATE`` transaction (``Store._write``)."""
        raise NotImplementedError

    def busy_timeout(self, ms: int) -> AbstractContextManager[None]:
        """Wait at most ``ms`` for the write lock inside the block (``Store.busy_timeout``)."""
        raise NotImplementedError

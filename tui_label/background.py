"""Work the labeler does off the UI thread, each with its own connection (never shared across
threads). No textual: the screen runs these in thread workers and posts what they return."""

from __future__ import annotations

from pathlib import Path

from tui_label.scan import scan
from tui_label.store import Counts, Store, StoreWriteError, SyncResult

LOCK_POLL_MS = 1000


def count(db: Path) -> Counts:
    """Fresh counts, other labelers' work included."""
    store = Store(db)
    try:
        return store.counts()
    finally:
        store.close()


def rescan(db: Path, root: Path) -> SyncResult:
    """Walk the dataset again and bring the images table in line with it."""
    store = Store(db)
    try:
        return store.sync_images(scan(root))
    finally:
        store.close()


def wait_for_write_lock(db: Path, cancelled=lambda: False) -> None:
    """Return once a write could happen (another process let go of the lock), or once the
    failure is no longer a lock (then the next key says what it is)."""
    store = Store(db, busy_timeout_ms=LOCK_POLL_MS)
    try:
        while not cancelled():
            try:
                store.probe_write()
                return
            except StoreWriteError as exc:
                if exc.kind != "locked":
                    return
    finally:
        store.close()

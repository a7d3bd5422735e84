"""Messages of the labeling screen: small dataclasses, posted from worker threads."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui_label.store import Counts, SyncResult


@dataclass
class ImageDecoded(Message):
    """A decode finished on a worker thread."""

    image_id: int


@dataclass
class ScanDone(Message):
    """The background rescan synced the images table."""

    result: SyncResult


@dataclass
class CountsRefreshed(Message):
    """Fresh counts from the database (other labelers' work included)."""

    counts: Counts
    generation: int  # the session's change counter when counting began

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CountsRefreshed)


@dataclass
class WriteLockFree(Message):
    """The database lock that refused a key has been released."""

"""What a failed store call raises: a write that did not happen, said in one line for a person,
and an undo that would overwrite someone else's later change."""

from __future__ import annotations

import sqlite3

from tui_label.errors import UsageError


class StoreWriteError(UsageError):
    """A write that did not happen: the disk is full, another process holds the lock past the
    busy timeout, the file is read-only, or an I/O error. ``str()`` is one line for a person;
    ``kind`` is ``full``, ``locked``, ``readonly`` or ``io``. Nothing was written."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class UndoConflict(Exception):
    """Undo would overwrite a later change by another annotator."""


_ERROR_KINDS = (  # (sqlite primary result code, words in the message, kind, what to say)
    (13, "disk is full", "full", "disk is full"),
    (5, "database is locked", "locked", "the database is locked by another process"),
    (6, "table is locked", "locked", "the database is locked by another process"),
    (8, "readonly", "readonly", "the database is read-only"),
)


_IOERR_SHMSIZE = 10 | (19 << 8)  # SQLITE_IOERR_SHMSIZE: the -shm file could not grow


def write_error(exc: sqlite3.Error) -> StoreWriteError:
    """The person-readable form of a failed write."""
    extended = getattr(exc, "sqlite_errorcode", None)
    code = extended & 0xFF if isinstance(extended, int) else None
    text = str(exc)
    if extended == _IOERR_SHMSIZE:  # the WAL index could not grow: no room on the disk
        return StoreWriteError("full", "disk is full")
    for primary, words, kind, message in _ERROR_KINDS:
        if code == primary or words in text:
            return StoreWriteError(kind, message)
    return StoreWriteError("io", f"cannot write to the database: {text}")

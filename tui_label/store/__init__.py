"""The SQLite store: the only package that speaks SQL.

Images are keyed by their path relative to the dataset root. Labeling is an append-only log of
events (``label`` / ``skip`` / ``clear``); the current label of an image is its latest event, and
undo appends an event that restores the state before the undone one.

Concurrency: WAL journal, a busy timeout, and every write a short ``BEGIN IMMEDIATE``
transaction, so two labelers (processes) can share one database. One ``Store`` per thread or
process; never share one across threads.

``Store`` is a thin facade: it owns the connection, the write transaction, the busy timeout and
the settings; each concern's queries are a mixin sharing that connection (``images``,
``labels``, ``queue``, ``team``, ``runs``, ``predictions``, ``reports``). The schema is
``migrations``; the value types it hands out are ``tui_label.core.types``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from sqlite_utils import Database

from tui_label.core.procs import default_annotator
from tui_label.errors import UsageError
from tui_label.store.errors import StoreWriteError, UndoConflict, write_error
from tui_label.store.migrations import SCHEMA_VERSION, migrations
from tui_label.store.predictions import PredictionsMixin
from tui_label.store.queue import QueueMixin
from tui_label.store.reports import ReportsMixin
from tui_label.store.runs import RunsMixin
from tui_label.store.team import ClaimRequest, ClaimResult, TeamMixin

__all__ = ["ClaimRequest", "ClaimResult", "Store", "StoreWriteError", "UndoConflict"]


# How long a write waits for another process's write lock. TUI_LABEL_BUSY_TIMEOUT_MS lowers it
# (tests, and anyone who would rather fail fast than wait).
def _busy_timeout_from_env(default: int = 30_000) -> int:
    text = os.environ.get("TUI_LABEL_BUSY_TIMEOUT_MS", "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise UsageError(f"TUI_LABEL_BUSY_TIMEOUT_MS={text!r}: give a whole number of "
                         "milliseconds")
    return int(text)


BUSY_TIMEOUT_MS = _busy_timeout_from_env()


class Store(TeamMixin, QueueMixin, RunsMixin, PredictionsMixin, ReportsMixin):
    """One connection to a tui-label database; ``with Store(path) as store:`` closes it.

    Args:
        path: The database file; its folder is created if needed.
        annotator: Name recorded with each event (default: the login name).

    Raises:
        UsageError: the file is not a tui-label database, cannot be opened, or was written by
            a newer tui-label.
    """

    def __init__(self, path: Path | str, *, annotator: str | None = None,
                 busy_timeout_ms: int | None = None, readonly: bool = False,
                 create: bool = True):
        self.path = Path(path)
        self.annotator = annotator or default_annotator()
        self.readonly = readonly
        self._create = create
        self._busy_ms = BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
        exists = self.path.exists()
        if not exists and (readonly or not create):
            raise UsageError(f"no database at {self.path}")
        if exists and not readonly and not os.access(self.path, os.W_OK):
            # Checked before SQLite opens it: opening would leave -wal and -shm files behind.
            raise StoreWriteError("readonly", f"the database {self.path} is read-only "
                                  "(no write permission)")
        self.conn = conn = self._connect()
        self.db = Database(conn)
        try:
            self._migrate()
            # WAL only once the file is known to be ours: a foreign database stays untouched.
            if not readonly and conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            conn.close()
            raise write_error(exc) from None
        except BaseException:
            conn.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        """Open the file (read-only, or made with its folder) with the busy timeout set."""
        conn = None
        try:
            if self.readonly:
                uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
                if (not os.access(self.path.parent, os.W_OK | os.X_OK)
                        and not Path(f"{self.path}-wal").exists()):
                    # A folder we cannot write: SQLite cannot make the -shm file a WAL
                    # database needs, even to read. No -wal there: nobody is writing it.
                    uri += "&immutable=1"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                       timeout=self._busy_ms / 1000)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None,
                                       timeout=self._busy_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
            # With WAL, NORMAL survives a killed process (the SSH drop case); it only risks the
            # last commits on a power cut, and keeps each label commit well under a millisecond.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.Error, OSError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.OperationalError) and write_error(exc).kind == "full":
                raise StoreWriteError("full", f"disk is full: cannot open {self.path}") from None
            raise UsageError(f"cannot open database {self.path}: {exc}") from None
        return conn

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # -- schema ----------------------------------------------------------------------------

    def schema_version(self) -> int:
        """``PRAGMA user_version``: how many of ``MIGRATIONS`` this file has had."""
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        """Check the schema version and apply the steps this file lacks.

        ``user_version`` is the source of truth; sqlite-utils' table of applied migrations is
        only consulted for a file that has none (a new file, or a foreign database).
        """
        try:
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise UsageError(
                    f"{self.path} was written by a newer tui-label (schema {version}, this one "
                    f"knows {SCHEMA_VERSION}); upgrade tui-label to open it")
            if version == SCHEMA_VERSION:
                return
            if version == 0 and not migrations.applied(self.db):
                self._check_new_file()
            if self.readonly:
                raise UsageError(f"{self.path} was written by an older tui-label: open it once "
                                 "with `tui-label label` to upgrade it")
            with self._write():
                # Another process may have migrated while we waited for the lock: re-read.
                version = self.schema_version()
                if version < SCHEMA_VERSION:
                    migrations.apply(self.db)
                    self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except StoreWriteError:
            raise
        except sqlite3.OperationalError as exc:
            raise write_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{self.path} is not a usable tui-label database: {exc}") from None

    def _check_new_file(self) -> None:
        """A file without our migrations must be empty, and made only by a command that may."""
        if set(self.db.table_names()):
            raise UsageError(f"{self.path} is an SQLite database but not a tui-label one")
        if not self._create:  # an empty file: a command that only reads makes none
            raise UsageError(f"no database at {self.path} (the file is empty): label "
                             "some images first")

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[None]:
        """A short write transaction that takes the write lock up front (no upgrade deadlock).

        A failed write (disk full, lock timeout, read-only, I/O) is rolled back and raised as
        ``StoreWriteError``; other exceptions from the body are rolled back and re-raised.
        """
        if self.readonly:
            raise StoreWriteError("readonly", "the database was opened read-only")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise write_error(exc) from None
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite may have rolled back already (disk full does)
            if isinstance(exc, sqlite3.OperationalError):
                raise write_error(exc) from None
            raise

    def probe_write(self) -> None:
        """Take the write lock and let it go: raises ``StoreWriteError`` when a write could
        not happen now (locked past the busy timeout, read-only)."""
        with self._write():
            pass

    @contextmanager
    def busy_timeout(self, ms: int) -> Iterator[None]:
        """Wait at most ``ms`` for the write lock inside this block (e.g. best-effort writes)."""
        self.conn.execute(f"PRAGMA busy_timeout = {int(ms)}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")

    # -- settings --------------------------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self._write():
            self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def multi_label(self) -> bool:
        """Whether this database is labeled in multi-label mode (a set of classes per image)."""
        return self.get_setting("multi_label") == "1"

    def set_multi_label(self) -> None:
        """Switch this database to multi-label mode, for good: a single label already given
        reads as a set of one class."""
        self.set_setting("multi_label", "1")

"""A persistent decode cache beside the database: every image decoded once per training size.

``<db folder>/<db name>-cache/<size>px/`` holds

- ``pixels.u8``: fixed-size records of ``size x size x 3`` uint8 pixels (HWC), one per slot,
  written at their offset and never rewritten in place (a changed file gets a new slot, so a
  reader holding the old slot still reads whole, valid pixels);
- ``index.db``: SQLite (its own file, never the labels' database), one row per image id with
  the file's size and mtime when it was decoded, its slot, the CRC-32 of its pixels and its
  status (``ok``, ``unreadable`` with the reason, or ``pending`` while being written).

It fills incrementally (``fill``): an image is decoded when it has no entry, or when its file's
size or mtime changed since. Several processes may fill it at once (two trainers, a ``tui-label
cache`` beside a run): slots are handed out in SQLite transactions, and an entry becomes ``ok``
only after its pixels are written, so a writer killed half-way leaves a ``pending`` entry that
the next fill decodes again. A record past the end of a truncated ``pixels.u8`` is decoded
again; a record whose CRC no longer matches is never trained on (``read`` decodes the file
instead and marks the entry stale). An ``index.db`` that is not a database is rebuilt.

Reads go through ``os.preadv`` into fresh buffers, not a memory map: the trainer's resident
memory stays one batch, however large the set (the kernel's page cache does the rest).

numpy, sqlite3 and Pillow (through ``tui_label.media.decode``) only: no torch, no textual.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tui_label.errors import UsageError
from tui_label.media import decode as images

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS
    fcntl = None  # type: ignore[assignment]

VERSION = 1  # the layout; another version is rebuilt
COMMIT_EVERY = 256  # images decoded in parallel, then written in one index transaction
_BUSY_MS = 60_000  # another filler holds the index: wait, it commits in milliseconds
_LOCK_WAIT_S = 60.0  # opening takes milliseconds: a holder this long is stuck, go on


@contextlib.contextmanager
def _opening_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` while held, where it can be had: not on a platform
    without ``fcntl``, nor on a file system that refuses locks (NFS mounted ``nolock``), nor
    past ``_LOCK_WAIT_S`` (a holder stopped with SIGSTOP): then opening goes on without it,
    as before there was one."""
    if fcntl is None:  # pragma: no cover - not on Linux or macOS
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            except OSError:  # ENOLCK, EOPNOTSUPP: no locks here
                break
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on the index: ``BEGIN IMMEDIATE``, then ``COMMIT``, or
    ``ROLLBACK`` on any error (an interrupt included) and the error goes on."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite said the file is not a database or is corrupt (not merely busy)."""
    if isinstance(error, sqlite3.OperationalError):
        return False  # locked, busy, read-only, disk I/O: the file may be fine
    name = getattr(error, "sqlite_errorname", "")
    if name:
        return name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT"))
    text = str(error)  # Python 3.10 has no error names
    return "not a database" in text or "malformed" in text


def cache_dir(db: Path) -> Path:
    """Every decode cache of a database: ``<db folder>/<db name>-cache/``."""
    db = Path(db).resolve()
    return db.parent / f"{db.stem}-cache"


@dataclass
class FillResult:
    """What a ``fill`` did: images decoded now, reused from the cache, and unreadable ones
    (image id, reason), by the order of the items."""

    decoded: int = 0
    reused: int = 0
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0


class DecodeCache:
    """The cache of one image size. ``DecodeCache.open(db, size)``; ``close()`` when done."""

    def __init__(self, folder: Path, size: int) -> None:
        """Raises ``CacheUnavailable`` (a usage error: one line) when the folder cannot be
        made or written."""
        self.folder, self.size = Path(folder), int(size)
        self.record = self.size * self.size * 3
        self.pixels_path = self.folder / "pixels.u8"
        self.index_path = self.folder / "index.db"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._conn = self._open_index()
        except OSError as exc:
            raise CacheUnavailable(self.folder, exc) from None
        except sqlite3.OperationalError as exc:  # not "locked": that one waits, or is raised
            if "unable to open" not in str(exc) and "readonly" not in str(exc):
                raise
            raise CacheUnavailable(self.folder, exc) from None
        try:
            self._fd = os.open(self.pixels_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            self._conn.close()
            raise CacheUnavailable(self.folder, exc) from None

    @classmethod
    def open(cls, db: Path, size: int) -> DecodeCache:
        return cls(cache_dir(db) / f"{int(size)}px", size)

    # -- the index ------------------------------------------------------------------------

    def _open_index(self) -> sqlite3.Connection:
        # One opener at a time: two processes creating (or rebuilding) the index at once
        # would otherwise see each other's half-made file, and a busy lock must never be
        # taken for a damaged file (that deleted a cache another process was filling).
        with _opening_lock(self.folder / "open.lock"):
            try:
                return self._connect()
            except sqlite3.DatabaseError as error:
                if not _damaged(error):
                    raise
            # Not a database (damaged, or something else's file): start this size afresh.
            for path in (self.index_path, self.pixels_path):
                path.unlink(missing_ok=True)
            for extra in self.folder.glob("index.db-*"):
                extra.unlink(missing_ok=True)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.index_path, timeout=_BUSY_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        with _transaction(conn):
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
                         "value INTEGER NOT NULL)")
            conn.execute(
                """
                CREATE TABLE IF NOT EXISTS entries (
                    image_id INTEGER PRIMARY KEY,
                    file_size INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL,
                    slot INTEGER,
                    crc INTEGER,
                    status TEXT NOT NULL,   -- ok, unreadable, pending (being written), stale
                    reason TEXT             -- why it is unreadable
                )
                """)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta and (meta.get("version") != VERSION or meta.get("size") != self.size):
                conn.execute("DELETE FROM entries")
                conn.execute("DELETE FROM meta")
                meta = {}
            if not meta:
                conn.executemany("INSERT INTO meta VALUES (?, ?)",
                                 [("version", VERSION), ("size", self.size), ("next_slot", 0)])
        return conn

    def close(self) -> None:
        """Close the files (a second call does nothing)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._conn.close()

    def __enter__(self) -> DecodeCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def entries(self, image_ids: Sequence[int]) -> dict[int, tuple]:
        """``image_id -> (file_size, mtime_ns, slot, crc, status, reason)`` for those that
        have an entry."""
        out: dict[int, tuple] = {}
        ids = list(image_ids)
        for start in range(0, len(ids), 900):  # SQLite's variable limit
            chunk = ids[start:start + 900]
            marks = ",".join("?" * len(chunk))
            for row in self._conn.execute(
                    f"SELECT image_id, file_size, mtime_ns, slot, crc, status, reason FROM "
                    f"entries WHERE image_id IN ({marks})", chunk):
                out[row[0]] = row[1:]
        return out

    # -- filling ----------------------------------------------------------------------------

    def fill(self, items: Sequence[tuple[int, Path]], *, workers: int = 1,
             progress: Callable[[int, int, int], None] = lambda done, total, decoded: None,
             check: Callable[[], None] = lambda: None) -> FillResult:
        """Make sure every ``(image id, file path)`` is cached (or known unreadable): decode
        the new and changed ones on ``workers`` threads. ``progress(done, total, decoded)``
        after each batch; ``check()`` may raise to stop (what is written stays valid)."""
        start = time.monotonic()
        result, total = FillResult(), len(items)
        file_length = os.fstat(self._fd).st_size
        known = self.entries([i for i, _ in items])
        todo: list[tuple[int, Path, int, int]] = []
        for image_id, path in items:
            stat = _stat(path)
            entry = known.get(image_id)
            if stat is not None and entry is not None and self._usable(entry, stat, file_length):
                if entry[4] == "unreadable":
                    result.unreadable.append((image_id, entry[5] or "unreadable"))
                result.reused += 1
                continue
            todo.append((image_id, path, *(stat or (-1, -1))))
        progress(result.reused, total, 0)
        if todo:
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                # A batch at a time: a million images are never a million pending decodes,
                # and a stop waits for one batch only.
                for first in range(0, len(todo), COMMIT_EVERY):
                    check()
                    batch = list(pool.map(
                        lambda t: (t, images.decode_square(t[1], self.size)),
                        todo[first:first + COMMIT_EVERY]))
                    self._store(batch, result)
                    progress(result.reused + result.decoded, total, result.decoded)
        result.seconds = time.monotonic() - start
        return result

    def _usable(self, entry: tuple, stat: tuple[int, int], file_length: int) -> bool:
        file_size, mtime_ns, slot, _crc, status, _reason = entry
        if (file_size, mtime_ns) != stat:
            return False  # the file changed since
        return status == "unreadable" or (status == "ok" and slot is not None
                                          and (slot + 1) * self.record <= file_length)

    def _store(self, batch: list, result: FillResult) -> None:
        """Write one batch of decoded images: allocate slots, write the pixels, then mark the
        entries ok (in that order: a crash in between leaves ``pending`` entries)."""
        good, rows = [], []
        for (image_id, _path, file_size, mtime_ns), dec in batch:
            if dec.image is None:
                rows.append((image_id, file_size, mtime_ns, None, None, "unreadable",
                             dec.error or "unreadable"))
                result.unreadable.append((image_id, dec.error or "unreadable"))
            else:
                pixels = np.ascontiguousarray(np.asarray(dec.image, dtype=np.uint8))
                good.append((image_id, file_size, mtime_ns, pixels))
            result.decoded += 1
        with _transaction(self._conn) as conn:
            first = conn.execute("SELECT value FROM meta WHERE key = 'next_slot'").fetchone()[0]
            conn.execute("UPDATE meta SET value = ? WHERE key = 'next_slot'",
                         (first + len(good),))
            conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                             rows + [(image_id, size, mtime, first + k, None, "pending", None)
                                     for k, (image_id, size, mtime, _) in enumerate(good)])
        done = []
        for k, (image_id, _size, _mtime, pixels) in enumerate(good):
            os.pwrite(self._fd, pixels.data, (first + k) * self.record)
            done.append((zlib.crc32(pixels.data), image_id, first + k))
        with _transaction(self._conn) as conn:
            # Only if the entry still points at our slot (a concurrent filler may have stored
            # the same image since: its entry stands).
            conn.executemany("UPDATE entries SET status = 'ok', crc = ? "
                             "WHERE image_id = ? AND slot = ? AND status = 'pending'", done)

    # -- reading ----------------------------------------------------------------------------

    def view(self, image_ids: Sequence[int], paths: Sequence[Path]) -> CachedView:
        """The cached pixels of ``image_ids`` (all filled and readable), in that order."""
        entries = self.entries(image_ids)
        missing = [i for i in image_ids if entries.get(i, (0, 0, 0, 0, ""))[4] != "ok"]
        if missing:
            raise KeyError(f"{len(missing)} image(s) are not in the cache, e.g. {missing[0]}")
        slots = np.array([entries[i][2] for i in image_ids], dtype=np.int64)
        crcs = np.array([entries[i][3] for i in image_ids], dtype=np.int64)
        return CachedView(self, np.asarray(image_ids, dtype=np.int64), slots, crcs,
                          [Path(p) for p in paths])

    def read(self, slots: np.ndarray, crcs: np.ndarray, ids: np.ndarray,
             paths: Sequence[Path]) -> np.ndarray:
        """``len(slots) x size x size x 3`` uint8, each record checked against its CRC. A
        record that fails is decoded from its file instead (and marked stale for the next
        fill): corrupt pixels are never returned."""
        out = np.empty((len(slots), self.size, self.size, 3), dtype=np.uint8)
        bad = []
        for k, slot in enumerate(np.asarray(slots).tolist()):
            view = memoryview(out[k].reshape(-1))
            got = os.preadv(self._fd, [view], slot * self.record)
            if got != self.record or zlib.crc32(view) != int(crcs[k]):
                bad.append(k)
        for k in bad:
            self._mark_stale(int(ids[k]))
            dec = images.decode_square(paths[k], self.size)
            if dec.image is None:
                raise CacheError(f"{paths[k]}: its cached pixels are damaged and the file "
                                 f"cannot be read now ({dec.error})")
            out[k] = np.asarray(dec.image, dtype=np.uint8)
        return out

    def _mark_stale(self, image_id: int) -> None:
        try:
            self._conn.execute("UPDATE entries SET status = 'stale' WHERE image_id = ?",
                               (image_id,))
        except sqlite3.Error:
            pass  # the next fill finds the CRC wrong again only when read: best effort

    def clear(self) -> None:
        """Remove this size's cache (files and index)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class CacheError(RuntimeError):
    pass


class CacheUnavailable(UsageError):
    """The cache's folder cannot be made, or its files opened for writing."""

    def __init__(self, folder: Path, exc: BaseException) -> None:
        why = getattr(exc, "strerror", None) or str(exc)
        super().__init__(f"cannot use the decode cache {folder}: {why} (it lives beside the "
                         "database: give a --db in a folder you can write)")


@dataclass
class CachedView:
    """Some images of a ``DecodeCache`` in a fixed order: ``batch(positions)`` reads them."""

    cache: DecodeCache
    ids: np.ndarray
    slots: np.ndarray
    crcs: np.ndarray
    paths: list[Path]

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """``N x size x size x 3`` uint8 for ``positions`` (indices into this view)."""
        pos = np.asarray(positions, dtype=np.int64)
        return self.cache.read(self.slots[pos], self.crcs[pos], self.ids[pos],
                               [self.paths[p] for p in pos.tolist()])

    def subset(self, positions: Sequence[int] | np.ndarray) -> CachedView:
        pos = np.asarray(positions, dtype=np.int64)
        return CachedView(self.cache, self.ids[pos], self.slots[pos], self.crcs[pos],
                          [self.paths[p] for p in pos.tolist()])

    @staticmethod
    def join(views: Sequence[CachedView]) -> CachedView:
        return CachedView(views[0].cache, np.concatenate([v.ids for v in views]),
                          np.concatenate([v.slots for v in views]),
                          np.concatenate([v.crcs for v in views]),
                          [p for v in views for p in v.paths])


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns

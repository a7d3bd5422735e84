"""Shared test helpers, formerly in tests/test_cli.py."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers.data import make_images
from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store


def run_cli(*args: str, env: dict[str, str] | None = None,
            preexec_fn=None) -> tuple[int, str, str]:
    """Run the real entry point in a subprocess (as a user would) without a terminal;
    ``env`` adds to the environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "tui_label", *args], capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, preexec_fn=preexec_fn,
    )
    return proc.returncode, proc.stdout, proc.stderr


def tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of each file's content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
        else "dir"
        for p in sorted(root.rglob("*"))
    }


def db_fingerprint(db: Path) -> tuple[str, list[str]]:
    """The database's bytes (with its -wal, if any) hashed, and a dump of every table: equal
    fingerprints mean nothing was written, not even a setting."""
    digest = hashlib.sha256(db.read_bytes())
    wal = Path(f"{db}-wal")
    if wal.exists():
        digest.update(wal.read_bytes())
    # Dump a copy: a connection to the file itself would leave -wal and -shm files beside it
    # and hide the ones a command under test leaves.
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy.db"
        shutil.copyfile(db, copy)
        if wal.exists():
            shutil.copyfile(wal, f"{copy}-wal")
        conn = sqlite3.connect(copy)
        try:
            dump = list(conn.iterdump())
        finally:
            conn.close()
    return digest.hexdigest(), dump


def assert_usage_error(code: int, err: str, fragment: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tui-label: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in err


def labeled_db(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    make_images(data, 4)
    db = tmp_path / "l.db"
    store = Store(db, annotator="ann")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2")])
    store.sync_images(scan(data))
    ids = [i.id for i in queue_of(store, "all")]
    store.label(ids[0], store.classes()[0].id)
    store.label(ids[1], store.classes()[1].id)
    store.skip(ids[2])
    store.close()
    return db


def without_root_powers() -> None:
    """preexec_fn: as root, drop CAP_DAC_OVERRIDE and CAP_FOWNER from the bounding set so the
    command obeys file modes as any user would (a no-op for other users)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 3):  # CAP_DAC_OVERRIDE, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

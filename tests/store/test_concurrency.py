"""Two labelers on one database, and a labeler killed mid-session."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import ScannedFile
from tui_label.store import Store

WORKER = r"""
import sys
from tui_label.store import Store
db, name, start, step, count = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
store = Store(db, annotator=name)
classes = [c.id for c in store.classes()]
ids = [r[0] for r in store.queue_rows()]
print("ready", flush=True)
sys.stdin.readline()  # start together
for n in range(count):
    image_id = ids[(start + n * step) % len(ids)]
    store.label(image_id, classes[n % len(classes)])
    if n % 7 == 0:
        store.skip(ids[(start + n * step + 1) % len(ids)])
print("done", flush=True)
"""


def make_db(path: Path, images: int) -> None:
    store = Store(path)
    store.set_classes([ClassSpec("a", "1"), ClassSpec("b", "2"), ClassSpec("c", "3")])
    store.sync_images(ScannedFile(f"{i:05d}.png", 1, 1.0) for i in range(images))
    store.close()


def start_worker(db: Path, name: str, start: int, step: int, count: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(db), name, str(start), str(step), str(count)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_two_processes_label_the_same_database_at_once(tmp_path: Path):
    db = tmp_path / "shared.db"
    make_db(db, 400)
    count = 300
    # Overlapping images on purpose: both write to the same rows' histories.
    workers = [start_worker(db, "alice", 0, 1, count), start_worker(db, "bob", 0, 3, count)]
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        assert "locked" not in err and "done" in out
    store = Store(db)
    rows = store.conn.execute(
        "SELECT annotator, action, COUNT(*) FROM label_events GROUP BY annotator, action"
    ).fetchall()
    per = {(a, act): n for a, act, n in rows}
    skips = len(range(0, count, 7))
    assert per == {("alice", "label"): count, ("alice", "skip"): skips,
                   ("bob", "label"): count, ("bob", "skip"): skips}
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


def test_killed_labeler_loses_nothing_committed(tmp_path: Path):
    db = tmp_path / "k.db"
    make_db(db, 5000)
    worker = start_worker(db, "carol", 0, 1, 100_000)
    worker.stdin.write("go\n")
    worker.stdin.flush()
    time.sleep(0.7)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    store = Store(db)
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    labels = store.conn.execute(
        "SELECT COUNT(*) FROM label_events WHERE action = 'label'").fetchone()[0]
    assert labels > 0
    # Every label event is whole (image, class, annotator, time): no torn rows.
    bad = store.conn.execute(
        "SELECT COUNT(*) FROM label_events WHERE annotator != 'carol' OR created_at IS NULL"
    ).fetchone()[0]
    assert bad == 0
    # And the database takes new labels at once.
    store.label(queue_of(store, "all")[0].id, store.classes()[0].id)
    store.close()

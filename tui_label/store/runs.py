"""Training runs: their lifecycle (created, updated, reopened, reaped when their process is
gone), their epochs, and what they train on (the labeled items and their stable splits)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from tui_label.core.hashing import unit_hash
from tui_label.core.procs import HOST, pid_alive
from tui_label.core.times import now_iso
from tui_label.core.types import ImageState, TrainingItem
from tui_label.store.base import StoreBase
from tui_label.store.errors import StoreWriteError

RUN_COLUMNS = (
    "created_at", "finished_at", "status", "reason", "model", "device", "config", "class_names",
    "num_train", "num_val", "best_accuracy", "best_checkpoint", "last_checkpoint", "pid", "host",
    "progress", "predicted_at", "predicted_through", "num_unlabeled",
)


def decode_run(row: dict) -> dict:
    """A runs row with its JSON columns (``config``, ``class_names``, ``progress``) read."""
    for key in ("config", "class_names", "progress"):
        if row.get(key):
            row[key] = json.loads(row[key])
    return row


class RunsMixin(StoreBase):
    # -- training data ---------------------------------------------------------------------

    def training_items(self) -> list[TrainingItem]:
        """Labeled images that can be read (not missing, not known unreadable), by path. A
        multi-label event's item has no ``class_id``; every item has its ``classes``."""
        rows = self.conn.execute(
            "SELECT i.id, i.path, e.class_id, e.classes FROM latest_events e "
            "JOIN images i ON i.id = e.image_id "
            "WHERE e.action = 'label' AND i.status IN ('unknown', 'ok') ORDER BY i.path"
        )
        return [TrainingItem(image_id, path, class_id,
                             ImageState.of("label", class_id, classes).classes)
                for image_id, path, class_id, classes in rows]

    def splits(self) -> dict[int, str]:
        """The stored split of every image a run has trained or validated on: ``{image id:
        'train' | 'val'}`` (an image keeps its split across runs)."""
        return dict(self.conn.execute("SELECT image_id, split FROM splits"))

    def assign_splits(self, items: Sequence[TrainingItem], val_fraction: float) -> dict[int, str]:
        """The train/validation split of ``items``, stable per image.

        An image keeps the split it got the first time. A new image goes to validation when the
        hash of its path falls under ``val_fraction``, so each class is split in proportion.
        Every class with two or more images gets at least one of each (a set of classes counts
        for its first class: ``TrainingItem.split_key``), and so does the whole of two or more.
        A class with a single image trains on it (nothing of it is validated).
        """
        with self._write():
            stored = dict(self.conn.execute("SELECT image_id, split FROM splits"))
            split: dict[int, str] = {}
            by_class: dict[int, list[TrainingItem]] = {}
            for item in items:
                split[item.image_id] = stored.get(item.image_id) or (
                    "val" if unit_hash(item.path) < val_fraction else "train")
                by_class.setdefault(item.split_key, []).append(item)
            for members in by_class.values():
                if len(members) == 1:
                    split[members[0].image_id] = "train"
            for members in [*by_class.values(), list(items)]:
                if len(members) < 2:
                    continue
                # Move an image that has no stored split first, so old ones keep theirs.
                ranked = sorted(members, key=lambda it: (it.image_id in stored,
                                                         unit_hash(it.path)))
                kinds = {split[it.image_id] for it in members}
                if kinds == {"train"}:
                    split[ranked[0].image_id] = "val"
                elif kinds == {"val"}:
                    split[ranked[0].image_id] = "train"
            self.conn.executemany(
                "INSERT INTO splits (image_id, split) VALUES (?, ?) "
                "ON CONFLICT (image_id) DO UPDATE SET split = excluded.split",
                [(k, v) for k, v in split.items() if stored.get(k) != v],
            )
        return split

    # -- runs ------------------------------------------------------------------------------

    def create_run(self, model: str, config: dict, class_names: list[str]) -> int:
        with self._write():
            cur = self.conn.execute(
                "INSERT INTO runs (created_at, status, model, config, class_names, pid, host) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (now_iso(), model, json.dumps(config), json.dumps(class_names), os.getpid(),
                 HOST),
            )
            return cur.lastrowid or 0

    def update_run(self, run_id: int, **fields: Any) -> None:
        unknown = set(fields) - set(RUN_COLUMNS)
        if unknown:
            raise ValueError(f"unknown run fields {sorted(unknown)}")
        if fields.get("status") in ("finished", "failed", "cancelled"):
            fields.setdefault("finished_at", now_iso())
        for key in ("progress", "config", "class_names"):
            if key in fields and not isinstance(fields[key], str) and fields[key] is not None:
                fields[key] = json.dumps(fields[key])
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._write():
            self.conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?",
                              (*fields.values(), run_id))

    def reopen_run(self, run_id: int, *, status: str, pid: int | None, last_epoch: int) -> bool:
        """Take run ``run_id`` over for this process (``--resume``): it is running again,
        without a reason or end time, and its epochs after ``last_epoch`` (trained past the
        checkpoint it resumes from) are dropped. Only if its status and pid are still the
        ones given (read when it was checked): False when another process changed it since."""
        with self._write():
            cur = self.conn.execute(
                "UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL, "
                "progress = NULL, pid = ?, host = ? WHERE id = ? AND status = ? AND pid IS ?",
                (os.getpid(), HOST, run_id, status, pid))
            if cur.rowcount != 1:
                return False
            self.conn.execute("DELETE FROM run_epochs WHERE run_id = ? AND epoch > ?",
                              (run_id, last_epoch))
            return True

    def add_epoch(self, run_id: int, epoch: int, *, train_loss: float, val_loss: float,
                  report: dict, seconds: float, images_per_sec: float) -> None:
        with self._write():
            self.conn.execute(
                "INSERT OR REPLACE INTO run_epochs (run_id, epoch, train_loss, val_loss, accuracy, "
                "macro_f1, report, seconds, images_per_sec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, epoch, train_loss, val_loss, report["accuracy"], report["macro_f1"],
                 json.dumps(report), seconds, images_per_sec),
            )

    def run(self, run_id: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        return decode_run(rows[0]) if rows else None

    def latest_run(self) -> dict | None:
        rows = list(self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1"))
        return decode_run(rows[0]) if rows else None

    def latest_run_id(self) -> int | None:
        """The newest run's id (any status), or None: what the panel follows."""
        return self.conn.execute("SELECT MAX(id) FROM runs").fetchone()[0]

    def latest_finished_run_id(self) -> int | None:
        """The newest finished run's id, or None when no run has finished."""
        row = self.conn.execute(
            "SELECT id FROM runs WHERE status = 'finished' ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def epochs(self, run_id: int) -> list[dict]:
        rows = self.db.query("SELECT * FROM run_epochs WHERE run_id = ? ORDER BY epoch", [run_id])
        return [{**r, "report": json.loads(r["report"]) if r["report"] else None} for r in rows]

    def reap_dead_runs(self) -> list[int]:
        """Mark runs of this host whose trainer process is gone (killed, out of memory) as
        failed. Returns their ids."""
        dead = [
            run_id
            for run_id, pid in self.conn.execute(
                "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (HOST,))
            if pid is None or not pid_alive(pid)
        ]
        for run_id in dead:
            self.update_run(run_id, status="failed",
                            reason="the trainer process ended without reporting "
                                   "(killed, or out of memory)")
        return dead

    def try_reap_dead_runs(self, wait_ms: int) -> list[int]:
        """``reap_dead_runs`` if the database can be written within ``wait_ms``; else nothing
        (locked, read-only or full now: a later call tries again). Best effort, on the way
        in or out of a command."""
        try:
            with self.busy_timeout(wait_ms):
                return self.reap_dead_runs()
        except StoreWriteError:
            return []

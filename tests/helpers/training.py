"""Shared test helpers for training runs (datasets, databases, in-process runs, events)."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.runs.writes import WritePolicy
from tui_label.store import Store
from tui_label.trainer import data as tdata
from tui_label.trainer import run as trainer

COLORS = {"red": (210, 30, 30), "green": (30, 210, 30), "blue": (30, 30, 210)}


NAMES = list(COLORS)


def make_dataset(root: Path, per_class: int = 16, size: int = 16, seed: int = 0) -> None:
    """``root/<colour>/NNN.png``: a flat colour plus noise, trivially separable."""
    rng = np.random.default_rng(seed)
    for name, rgb in COLORS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.integers(-30, 31, (size, size, 3))
            pixels = np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")


def label_where(store: Store, keep=lambda path: True) -> int:
    """Label each image (not yet labeled) whose path passes ``keep`` with its true class."""
    ids = {c.name: c.id for c in store.classes()}
    n = 0
    for item in queue_of(store, "all"):
        if not store.current(item.id).labeled and keep(item.path):
            store.label(item.id, ids[item.path.split("/")[0]])
            n += 1
    return n


def make_db(folder: Path, *, per_class: int = 16, keep=lambda path: True,
            record_root: bool = True) -> tuple[Path, Path, int]:
    """A dataset and a database labeling it; returns (root, db, number labeled)."""
    root = folder / "data"
    make_dataset(root, per_class)
    db = folder / "labels.db"
    store = Store(db, annotator="tester")
    store.set_classes([ClassSpec(name, str(k + 1)) for k, name in enumerate(NAMES)])
    store.sync_images(scan(root))
    if record_root:
        store.set_setting("root", str(root))
    n = label_where(store, keep)
    store.close()
    return root, db, n


def train_cmd(root: Path, db: Path, epochs: int = 2, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tui_label.trainer", str(root), "--db", str(db),
            "--epochs", str(epochs), "--image-size", "16", "--batch-size", "8",
            "--events", "json", "--device", "cpu", *extra]


def decode_images(paths: list[Path], size: int, cache_db: Path, skipped=lambda i, why: None):
    """``paths`` through the trainer's decode path (the decode cache of ``cache_db``): a
    uint8 N x 3 x size x size tensor of the readable ones, and their indices."""
    from tui_label.media.decode_cache import DecodeCache

    with DecodeCache.open(cache_db, size) as cache:
        images, kept = tdata.from_cache(cache, [(k + 1, p) for k, p in enumerate(paths)],
                                        skipped=skipped)
        return images[slice(None)], kept


def parse_events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def opts_for(root: Path, db: Path, **kw) -> TrainOptions:
    settings = {"epochs": 2, "image_size": 16, "batch_size": 8, "device": "cpu",
                "events": "json", **kw}
    return TrainOptions(db=db, root=root, **settings)


def train_in_process(opts: TrainOptions, writes: WritePolicy | None = None,
                     emitter: Emitter | None = None) -> tuple[int, list[dict]]:
    emitter = emitter or Emitter("json", stream=io.StringIO())
    code = trainer.train(opts, emitter, writes=writes)
    return code, parse_events(emitter.stream.getvalue())


def labels_snapshot(db: Path) -> list[dict]:
    store = Store(db)
    try:
        return store.current_labels()
    finally:
        store.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def run_row(db: Path, run_id: int) -> dict:
    store = Store(db)
    try:
        return store.run(run_id)
    finally:
        store.close()

"""Shared test helpers, formerly in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store

REPO = Path(__file__).resolve().parents[2]


SAMPLE_DATA = REPO / "sample_data"


def make_images(root: Path, count: int, size: tuple[int, int] = (32, 24)) -> list[str]:
    """Write ``count`` distinct small PNGs under ``root``; return their relative paths."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        rel = f"img{i:03d}.png"
        Image.new("RGB", size, (i * 7 % 256, i * 13 % 256, i * 29 % 256)).save(root / rel)
        paths.append(rel)
    return paths


def sample_store(db: Path, per_class: int) -> Store:
    """A store on the bundled digits with ``per_class`` images of each digit labeled from the
    ground truth (the rest unlabeled)."""
    import csv

    store = Store(db, annotator="truth")
    store.set_classes([ClassSpec(str(d), str(d)) for d in range(10)])
    store.sync_images(scan(SAMPLE_DATA))
    store.set_setting("root", str(SAMPLE_DATA.resolve()))
    class_ids = {c.name: c.id for c in store.classes()}
    image_ids = {i.path: i.id for i in queue_of(store, "all")}
    taken: dict[str, int] = {}
    with open(SAMPLE_DATA / "ground_truth.csv") as f:
        for row in csv.DictReader(f):
            if taken.get(row["label"], 0) < per_class:
                taken[row["label"]] = taken.get(row["label"], 0) + 1
                store.label(image_ids[row["path"]], class_ids[row["label"]])
    return store

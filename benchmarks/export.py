"""Export 100,000 labels (issue 9): CSV, JSON lines, ImageFolder and the Hugging Face layout.

Run: ``python benchmarks/export.py [--images 100000] [--repeat 3]``. Makes a temporary dataset
of N empty image files (the folder formats link or copy them; nothing decodes them) and a
database where two annotators labeled every image (9 in 10 alike) and the trainer split them,
then times the real command line (``python -m tui_label export``, start-up included), each
best of ``--repeat``: the current labels as CSV and JSONL, one annotator's and the agreed
labels as CSV, ImageFolder with symlinks (the default), the Hugging Face layout, and
ImageFolder with ``--copy`` (empty files: the copy cost per file, not per byte).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tui_label.config.settings import ClassSpec
from tui_label.core.times import now_iso
from tui_label.media.scan import ScannedFile
from tui_label.store import Store

CLASSES = [ClassSpec(f"class{i}", str(i)) for i in range(10)]


def make_dataset(folder: Path, images: int) -> tuple[Path, Path]:
    data = folder / "data"
    paths = [f"d{i // 1000:03d}/f{i:07d}.jpg" for i in range(images)]
    for sub in {p.split("/")[0] for p in paths}:
        (data / sub).mkdir(parents=True)
    for p in paths:
        (data / p).touch()
    db = folder / "export.db"
    store = Store(db, annotator="a")
    store.set_classes(CLASSES)
    store.sync_images(ScannedFile(p, 0, 1.0) for p in paths)
    ids = [c.id for c in store.classes()]
    at = now_iso()
    # Setup only: 200,000 label events in one transaction (Store.label commits each one).
    events = [(n + 1, "label", ids[n % 10], "a", at) for n in range(images)]
    events += [(n + 1, "label", ids[(n + (n % 10 == 0)) % 10], "b", at) for n in range(images)]
    store.conn.execute("BEGIN")
    store.conn.executemany("INSERT INTO label_events (image_id, action, class_id, annotator, "
                           "created_at) VALUES (?, ?, ?, ?, ?)", events)
    store.conn.execute("COMMIT")
    store.assign_splits(store.training_items(), 0.2)
    store.close()
    return data, db


def timed(args: list[str], out: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tui_label", "export", *args, "--out", str(out)],
                       check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    try:
        t0 = time.perf_counter()
        data, db = make_dataset(folder, args.images)
        print(f"{args.images} images, {2 * args.images} label events, made in "
              f"{time.perf_counter() - t0:.1f} s; {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
        common = [str(data), "--db", str(db)]
        cases = [
            ("csv, current labels", ["--format", "csv"], "labels.csv"),
            ("jsonl, current labels", ["--format", "jsonl"], "labels.jsonl"),
            ("csv, --annotator a", ["--annotator", "a"], "a.csv"),
            ("csv, --agreed", ["--agreed"], "agreed.csv"),
            ("imagefolder, symlinks", ["--format", "imagefolder"], "imagefolder"),
            ("hf, symlinks", ["--format", "hf"], "hf"),
            ("imagefolder, --copy", ["--format", "imagefolder", "--copy"], "copies"),
        ]
        print(f"{'export':<24} best of {args.repeat}, seconds (whole command)")
        for name, extra, target in cases:
            seconds = timed(common + extra, folder / target, args.repeat)
            print(f"{name:<24} {seconds:6.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

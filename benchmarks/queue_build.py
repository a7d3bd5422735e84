"""Build the labeling queue of a large set: open, counts and ``store.queue`` (issue 10).

Run: ``python benchmarks/queue_build.py [--images 100000] [--labels 1000]``. Makes a temporary
database of N images (no files: the queue never touches them) with L labels spread over the
set, then times, three times each: opening the store, the counts, and the default queue
(unlabeled first). Run it from an older checkout (``PYTHONPATH=that checkout``) to compare.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tui_label.config.settings import ClassSpec
from tui_label.core.orders import OrderChoice
from tui_label.media.scan import ScannedFile
from tui_label.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=1_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    store = Store(folder / "q.db")
    store.set_classes([ClassSpec("a", "1"), ClassSpec("b", "2")])
    store.sync_images(ScannedFile(f"d{i // 1000:03d}/f{i:07d}.jpg", 100, 1.0)
                      for i in range(args.images))
    step = max(args.images // max(args.labels, 1), 1)
    for n in range(args.labels):
        store.label(1 + n * step, 1 + n % 2)
    store.close()
    print(f"{args.images} images, {args.labels} labels; seconds")
    for _ in range(3):
        t0 = time.perf_counter()
        store = Store(folder / "q.db")
        t1 = time.perf_counter()
        store.counts()
        t2 = time.perf_counter()
        queue = OrderChoice("unlabeled").rank(store.queue_rows())
        t3 = time.perf_counter()
        store.close()
        assert len(queue) == args.images
        print(f"open {t1 - t0:.3f}  counts {t2 - t1:.3f}  queue {t3 - t2:.3f}")


if __name__ == "__main__":
    main()

"""Label commit latency: ``Store.label()`` on a database of 100,000 images (issue 3).

Run (defaults take about 30 s):

    /work/venv/bin/python benchmarks/commit.py
    /work/venv/bin/python benchmarks/commit.py --images 100000 --labels 2000

Each ``Store.label()`` call is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction (WAL,
``synchronous = NORMAL``), timed from call to return. Three runs on the same database:

* alone: this process only;
* rival flat out: a second process (multiprocessing) labels the same database in a tight
  loop while this one does too (a stress test: two writers that never pause);
* both paced: this process labels every 2 ms and the rival every 10 ms (still far faster than
  people; the waits between calls are not timed).

The database lives in a temporary folder on the same disk as the repository. The images are
index rows only (no files are needed to label).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import tempfile
import time
from pathlib import Path

from _common import add_machine_args, fmt_ms, p50_95_99, print_table, start

TARGET_P99 = 0.005


def build_db(path: Path, images: int) -> None:
    from tui_label.config.settings import ClassSpec
    from tui_label.media.scan import ScannedFile
    from tui_label.store import Store

    store = Store(path, annotator="bench")
    store.set_classes([ClassSpec("a", "1"), ClassSpec("b", "2")])
    store.sync_images(ScannedFile(f"d{i // 1000:03d}/img{i:06d}.jpg", 1000, 1.0e9)
                      for i in range(images))
    store.close()


def label_many(path: Path, n: int, images: int, seed: int, pause: float = 0.0) -> list[float]:
    """Label ``n`` random images, one commit each; return each call's duration in seconds."""
    from tui_label.store import Store

    store = Store(path, annotator=f"bench{seed}")
    classes = [c.id for c in store.classes()]
    rng = random.Random(seed)
    times = []
    for _ in range(n):
        image_id, class_id = rng.randint(1, images), rng.choice(classes)
        t0 = time.perf_counter()
        store.label(image_id, class_id, ms_on_screen=500)
        times.append(time.perf_counter() - t0)
        if pause:
            time.sleep(pause)
    store.close()
    return times


def rival(path: Path, images: int, pause: float, stop, done) -> None:
    """The second labeler: keeps labeling until told to stop; reports its call times."""
    from tui_label.store import Store

    store = Store(path, annotator="rival")
    classes = [c.id for c in store.classes()]
    rng = random.Random(99)
    times = []
    while not stop.is_set():
        t0 = time.perf_counter()
        store.label(rng.randint(1, images), rng.choice(classes))
        times.append(time.perf_counter() - t0)
        if pause:
            time.sleep(pause)
    store.close()
    done.put(times)


def with_rival(path: Path, args, pause: float, my_pause: float) -> tuple[list[float], list[float]]:
    ctx = mp.get_context("spawn")  # a fresh interpreter, as a second tui-label would be
    stop, done = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=rival, args=(path, args.images, pause, stop, done))
    proc.start()
    time.sleep(1.0)  # let it start (imports) and get going
    mine = label_many(path, args.labels, args.images, seed=2, pause=my_pause)
    stop.set()
    theirs = done.get(timeout=60)
    proc.join()
    return mine, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=2000, help="timed label() calls per run")
    add_machine_args(parser)
    args = parser.parse_args()
    start(args)

    with tempfile.TemporaryDirectory(prefix="tui-label-bench-") as tmp:
        path = Path(tmp) / "labels.db"
        t0 = time.perf_counter()
        build_db(path, args.images)
        print(f"database with {args.images} images built in {time.perf_counter() - t0:.1f} s")
        label_many(path, 50, args.images, seed=0)  # warm-up: page cache, statement cache
        runs = [("alone", label_many(path, args.labels, args.images, seed=1), None)]
        for name, pause, my_pause in (("rival flat out", 0.0, 0.0),
                                      ("both paced (2 ms / 10 ms)", 0.010, 0.002)):
            mine, theirs = with_rival(path, args, pause, my_pause)
            runs.append((name, mine, theirs))

    rows = []
    for name, mine, theirs in runs:
        p = p50_95_99(mine)
        rival_col = "-" if theirs is None else f"{len(theirs)} / {fmt_ms(p50_95_99(theirs)[2], 2)}"
        rows.append([name, len(mine), *(fmt_ms(x, 2) for x in p), fmt_ms(max(mine), 2), rival_col,
                     "pass" if p[2] < TARGET_P99 else "FAIL"])
    print()
    print(f"Store.label() latency in ms, {args.images} images; target p99 < "
          f"{TARGET_P99 * 1000:.0f} ms")
    print_table(["run", "calls", "p50", "p95", "p99", "max", "rival calls / p99", "target"],
                rows)


if __name__ == "__main__":
    main()

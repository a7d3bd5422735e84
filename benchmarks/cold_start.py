"""The first order before any model (issue 18.6): typical first by pixels against random.

    python benchmarks/cold_start.py [--seeds 0,1,2] [--labels 100] [--photos 300]

On the 500 bundled digits, with the first 10 of each digit in ground_truth.csv held out (as in
label_efficiency.py), each order ranks the other 400 images as the labeler would before any
run, and an annotator labels the first ``--labels`` of it from the ground truth:

* **typical**: typical first before a model (``core.rankings`` with ``Pixels``: TypiClust on
  thumbnails round by round, ``assist.pixels.typical_paths``), what ``--order auto`` opens on;
* **one clustering**: TypiClust in one go (20 clusters, then each cluster's images most
  typical first): what typical first did before the rounds, not kept;
* **random**: the random order (a stable hash of the path), the same ``--labels`` unstratified;
* **random, 10 per digit**: label_efficiency.py's draw (stratified, seeded), a baseline no
  real order can give (it needs the answers).

Reported: how many digits the first 10 and 20 images cover, the smallest class among the
labels, and the suggestion accuracy on the held-out digits after the panel's default run on
those labels (run and live head, mean over trainer seeds ``--seeds``). Then the same coverage
on imbalanced pools (8 draws of 122 digits, 36 of one digit down to 2 of the rarest), where
an order that follows the class frequencies misses the rare ones. Then the time to rank by
pixels: the 400 digits, ``--photos`` images of 4000 x 3000 (JPEG, from scikit-image's
photographs), and the rounds alone on 2000 rows of random features.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import SAMPLE_DATA, machine_line, print_table  # noqa: E402
from label_efficiency import accuracy, make_store, split, train  # noqa: E402


def typical_rows(pool: list[dict]) -> list[dict]:
    from tui_label.assist.pixels import typical_paths
    from tui_label.core.orders import OrderChoice
    from tui_label.core.rankings import Pixels
    from tui_label.core.types import QueueRow

    rows = [QueueRow(n, r["path"], None, None) for n, r in enumerate(pool)]
    ranked = OrderChoice("typical").rank(
        rows, Pixels(lambda paths: typical_paths(str(SAMPLE_DATA), paths)))
    return [pool[item.id] for item in ranked]


def one_clustering_rows(pool: list[dict]) -> list[dict]:
    import numpy as np

    from tui_label.assist.pixels import thumbnails
    from tui_label.assist.typiclust import typical_first

    features, _ok = thumbnails(SAMPLE_DATA, [r["path"] for r in pool])
    return [pool[i] for i in typical_first(features, np.zeros(len(pool), dtype=bool))]


def random_rows(pool: list[dict]) -> list[dict]:
    from tui_label.core.orders import OrderChoice
    from tui_label.core.types import QueueRow

    rows = [QueueRow(n, r["path"], None, None) for n, r in enumerate(pool)]
    return [pool[item.id] for item in OrderChoice("random").rank(rows)]


def coverage(rows: list[dict], n: int) -> int:
    return len({r["label"] for r in rows[:n]})


def efficiency(labeled: list[dict], held: list[dict], seeds: list[int], head
               ) -> tuple[float, float]:
    from tui_label.assist.model_view import ModelView, fit_live
    from tui_label.store import Store

    runs, lives = [], []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "cold.db"
            store, ids, classes = make_store(db, labeled)
            store.close()
            train(db, [f"--seed={seed}"])
            store = Store(db)
            try:
                view = ModelView.load(store)
                assert view is not None, "the run stored no predictions"
                runs.append(accuracy(view, ids, classes, held))
                live = fit_live(store, view, head)
                lives.append(accuracy(view.with_live(live), ids, classes, held)
                             if live is not None else float("nan"))
            finally:
                store.close()
    return sum(runs) / len(runs), sum(lives) / len(lives)


IMBALANCED = {0: 36, 1: 30, 2: 20, 3: 12, 4: 8, 5: 5, 6: 4, 7: 3, 8: 2, 9: 2}


def imbalanced_coverage(pool: list[dict], draws: int = 8) -> list[list[object]]:
    """Digits covered by the first 10, 20 and 30 of each order on skewed pools (mean)."""
    import random

    import numpy as np

    from tui_label.assist.pixels import rounds, thumbnails
    from tui_label.assist.typiclust import typical_first
    from tui_label.core.hashing import unit_hash

    features, _ok = thumbnails(SAMPLE_DATA, [r["path"] for r in pool])
    seen: dict[str, list[list[int]]] = {}
    for draw in range(draws):
        rng = random.Random(draw)
        idx: list[int] = []
        for digit, n in IMBALANCED.items():
            idx += rng.sample([i for i, r in enumerate(pool) if r["label"] == str(digit)], n)
        f, labels = features[idx], [pool[i]["label"] for i in idx]
        orders = {
            "typical first (pixels)": rounds(f).tolist(),
            "one clustering (not kept)": typical_first(f, np.zeros(len(idx), bool)).tolist(),
            "random": sorted(range(len(idx)),
                             key=lambda k: unit_hash(f"{draw}:{pool[idx[k]]['path']}")),
        }
        for name, order in orders.items():
            seen.setdefault(name, []).append([len({labels[k] for k in order[:n]})
                                              for n in (10, 20, 30)])
    return [[name, *(f"{v:.1f}" for v in np.mean(rows, axis=0))] for name, rows in seen.items()]


def rounds_timing(rows: int = 2000) -> float:
    import numpy as np

    from tui_label.assist.pixels import SIDE, rounds

    features = np.random.default_rng(0).normal(size=(rows, SIDE * SIDE)).astype(np.float32)
    began = time.perf_counter()
    rounds(features)
    return time.perf_counter() - began


def photo_timing(count: int) -> tuple[float, int]:
    """Seconds to rank ``count`` 4000 x 3000 JPEGs by pixels (typical_paths), and how many."""
    import numpy as np
    from PIL import Image
    from skimage import data as skdata

    from tui_label.assist.pixels import typical_paths

    sources = [getattr(skdata, n)() for n in ("astronaut", "chelsea", "coffee", "rocket")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        for n in range(count):
            src = Image.fromarray(sources[n % len(sources)]).convert("RGB")
            big = src.resize((4000, 3000)).rotate(float(rng.uniform(-20, 20)))
            big.save(root / f"p{n:05d}.jpg", quality=85)
        paths = sorted(p.name for p in root.iterdir())
        began = time.perf_counter()
        order = typical_paths(str(root), paths)
        seconds = time.perf_counter() - began
    assert sorted(order.tolist()) == list(range(len(paths)))
    return seconds, len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="trainer seeds")
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--photos", type=int, default=300,
                        help="4000x3000 photos to time the pixel ranking on (0: skip)")
    args = parser.parse_args()
    from tui_label.assist.live_head import LiveHead

    seeds = [int(s) for s in args.seeds.split(",")]
    print(machine_line())
    held, _ = split(10, 10, 0)
    held_paths = {r["path"] for r in held}
    pool = [r for r in csv.DictReader(open(SAMPLE_DATA / "ground_truth.csv"))
            if r["path"] not in held_paths]
    began = time.perf_counter()
    typical = typical_rows(pool)
    rank_s = time.perf_counter() - began
    draws = {"typical first (pixels)": typical,
             "one clustering (not kept)": one_clustering_rows(pool), "random": random_rows(pool)}
    table = []
    with LiveHead() as head:
        for name, rows in draws.items():
            labeled = rows[:args.labels]
            run_acc, live_acc = efficiency(labeled, held, seeds, head)
            smallest = min(Counter(r["label"] for r in labeled).get(str(d), 0)
                           for d in range(10))
            table.append([name, coverage(rows, 10), coverage(rows, 20), smallest,
                          f"{run_acc:.3f}", f"{live_acc:.3f}"])
            print(table[-1], flush=True)
        stratified = []
        for seed in seeds:  # label_efficiency's draw: 10 per digit
            _held, labeled = split(10, args.labels // 10, seed)
            stratified.append(efficiency(labeled, held, [0], head))
        table.append(["random, 10 per digit (needs the answers)", "-", "-", args.labels // 10,
                      f"{sum(r for r, _ in stratified) / len(stratified):.3f}",
                      f"{sum(lv for _, lv in stratified) / len(stratified):.3f}"])
    print(f"\n{args.labels} labels from the {len(pool)} images left after holding out 10 per "
          f"digit; the panel's default run, trainer seeds {args.seeds} (the stratified row: "
          f"draw seeds {args.seeds}, trainer seed 0)")
    print_table(["first order", "digits in first 10", "in first 20", "smallest class",
                 "run suggestions right", "live head right"], table)
    print(f"\nImbalanced pools ({sum(IMBALANCED.values())} digits: "
          f"{', '.join(str(n) for n in IMBALANCED.values())} of each; 8 draws): digits covered")
    print_table(["first order", "first 10", "first 20", "first 30"],
                imbalanced_coverage(pool))
    print(f"\nranking the {len(pool)} digits by pixels: {rank_s:.2f} s")
    print(f"the rounds alone on 2000 rows: {rounds_timing():.1f} s")
    if args.photos:
        seconds, n = photo_timing(args.photos)
        print(f"ranking {n} photos of 4000x3000 by pixels: {seconds:.1f} s "
              f"({seconds / n * 1000:.1f} ms an image)")


if __name__ == "__main__":
    main()

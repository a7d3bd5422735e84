"""Accuracy of the small CNN on the sample digits with 10, 30 and all labels per class.

    python benchmarks/train_accuracy.py [--epochs 30] [--held-out 10]
    python benchmarks/train_accuracy.py --epochs 10 --batch-size 64 --per-class 5,8 \
        --min-steps 1,10    # the panel's defaults after a few labels, one pass an epoch or not

A fixed held-out set (the first --held-out images of each digit in ground_truth.csv) is never
labeled; from the rest, the first k images of each digit are labeled from the ground truth,
the engine trains (its own validation split picks the best checkpoint), and the best
checkpoint is scored on the held-out images. This is the baseline for active learning.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SAMPLE_DATA, machine_line, print_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--held-out", type=int, default=10)
    parser.add_argument("--per-class", default="10,30,all")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--min-steps", default=None,
                        help="comma-separated MIN_STEPS_PER_EPOCH values to compare (1: one "
                        "pass over the set an epoch, however small)")
    args = parser.parse_args()

    import torch

    from tui_label.config.settings import ClassSpec
    from tui_label.core.orders import OrderChoice
    from tui_label.media.decode_cache import DecodeCache
    from tui_label.media.scan import scan
    from tui_label.runs.emit import Emitter
    from tui_label.runs.options import TrainOptions
    from tui_label.store import Store
    from tui_label.trainer import data as tdata
    from tui_label.trainer.checkpoint import class_probabilities, load_checkpoint
    from tui_label.trainer.data import from_cache
    from tui_label.trainer.run import train

    rows = list(csv.DictReader(open(SAMPLE_DATA / "ground_truth.csv")))
    seen: dict[str, int] = {}
    held, pool = [], []
    for row in rows:
        seen[row["label"]] = seen.get(row["label"], 0) + 1
        (held if seen[row["label"]] <= args.held_out else pool).append(row)
    with tempfile.TemporaryDirectory() as tmp, DecodeCache.open(Path(tmp) / "held.db", 64) as c:
        held_x, kept = from_cache(c, [(k, SAMPLE_DATA / r["path"]) for k, r in enumerate(held)])
        held_x = held_x[slice(None)]
    held_y = torch.tensor([int(held[i]["label"]) for i in kept])
    print(machine_line())
    table = []
    min_steps = [int(m) for m in args.min_steps.split(",")] if args.min_steps else \
        [tdata.MIN_STEPS_PER_EPOCH]
    for k, steps in [(k, m) for k in args.per_class.split(",") for m in min_steps]:
        tdata.MIN_STEPS_PER_EPOCH = steps
        limit = 10**9 if k == "all" else int(k)
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "acc.db"
            store = Store(db)
            store.set_classes([ClassSpec(str(d), str(d)) for d in range(10)])
            store.sync_images(scan(SAMPLE_DATA))
            cls = {c.name: c.id for c in store.classes()}
            ids = {i.path: i.id for i in OrderChoice("all").rank(store.queue_rows())}
            taken: dict[str, int] = {}
            for row in pool:
                if taken.get(row["label"], 0) < limit:
                    taken[row["label"]] = taken.get(row["label"], 0) + 1
                    store.label(ids[row["path"]], cls[row["label"]])
            labeled = sum(taken.values())
            store.close()
            opts = TrainOptions(db=db, root=SAMPLE_DATA, epochs=args.epochs,
                                batch_size=args.batch_size, device="cpu", events="json")
            assert train(opts, Emitter("json", io.StringIO())) == 0
            store = Store(db)
            run = store.latest_run()
            store.close()
            model, ckpt = load_checkpoint(Path(run["best_checkpoint"]))
            # Class k of the model is the class at position k of the run's class_names.
            names = ckpt["class_names"]
            pred = class_probabilities(model, held_x).argmax(1)
            hits = sum(int(names[p]) == int(t) for p, t in zip(pred, held_y, strict=True))
            acc = hits / len(held_y)
            table.append([k, labeled, steps, f"{run['best_accuracy']:.3f}", f"{acc:.3f}"])
    print(f"\nsmall-cnn, 64x64, {args.epochs} epochs, batch {args.batch_size}, held-out set: "
          f"{len(held_y)} images ({args.held_out} per digit)")
    print_table(["labels per class", "labeled", "min steps an epoch", "own val accuracy",
                 "held-out accuracy"], table)


if __name__ == "__main__":
    main()

"""A short multi-label run on a synthetic set made from the sample digits.

    python benchmarks/multi_label.py [--images 1000] [--held-out 200] [--epochs 30]

Each image is a 64x64 canvas cut in four 32x32 cells; one or two digits (shrunk to 32x32) are
put in random cells, the rest stays black; the image's set of classes is the set of digits on
it (two copies of one digit make a set of one). The digits are split first: the first
``--held-out-digits`` images of each digit in ``ground_truth.csv`` make the held-out
composites only, the others the labeled ones. Everything is drawn from a fixed seed. The
engine trains in multi-label mode (sigmoid + BCE, its own validation split picks the best
checkpoint by exact-match accuracy); the best checkpoint is then scored on the held-out
composites at the threshold, and at a few others (the same model: no retraining).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SAMPLE_DATA, machine_line, print_table  # noqa: E402


def compose(digits: list[Path], rng, count: int, folder: Path,
            labels: list[int]) -> list[tuple[str, frozenset[int]]]:
    """``count`` composites of one or two of ``digits`` (class ``labels[k]``) under
    ``folder``; returns each one's path (relative to ``folder``) and its set."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in range(count):
        canvas = np.zeros((64, 64), np.uint8)
        picks = rng.choice(len(digits), size=int(rng.integers(1, 3)), replace=False)
        cells = rng.choice(4, size=len(picks), replace=False)
        for pick, cell in zip(picks, cells, strict=True):
            digit = Image.open(digits[pick]).convert("L").resize((32, 32), Image.BILINEAR)
            y, x = divmod(int(cell), 2)
            canvas[y * 32:(y + 1) * 32, x * 32:(x + 1) * 32] = np.asarray(digit)
        name = f"{n:04d}.png"
        Image.fromarray(canvas).convert("RGB").save(folder / name)
        out.append((name, frozenset(labels[p] for p in picks)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="labeled composites")
    parser.add_argument("--held-out", type=int, default=200, help="held-out composites")
    parser.add_argument("--held-out-digits", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import torch

    from tui_label.config.settings import ClassSpec
    from tui_label.core.orders import OrderChoice
    from tui_label.media.decode_cache import DecodeCache
    from tui_label.media.scan import scan
    from tui_label.runs.emit import Emitter
    from tui_label.runs.metrics import multi_label_report
    from tui_label.runs.options import TrainOptions
    from tui_label.store import Store
    from tui_label.trainer.checkpoint import load_checkpoint
    from tui_label.trainer.data import from_cache, normalize
    from tui_label.trainer.run import train

    rows = list(csv.DictReader(open(SAMPLE_DATA / "ground_truth.csv")))
    seen: dict[str, int] = {}
    held_digits, pool_digits = [], []
    for row in rows:
        seen[row["label"]] = seen.get(row["label"], 0) + 1
        (held_digits if seen[row["label"]] <= args.held_out_digits else pool_digits).append(row)
    rng = np.random.default_rng(args.seed)
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "data"
        labeled = compose([SAMPLE_DATA / r["path"] for r in pool_digits], rng, args.images,
                          root, [int(r["label"]) for r in pool_digits])
        held = compose([SAMPLE_DATA / r["path"] for r in held_digits], rng, args.held_out,
                       tmp / "held", [int(r["label"]) for r in held_digits])
        db = tmp / "ml.db"
        store = Store(db)
        store.set_classes([ClassSpec(str(d), str(d)) for d in range(10)])
        store.sync_images(scan(root))
        store.set_multi_label()
        cls = {int(c.name): c.id for c in store.classes()}
        ids = {i.path: i.id for i in OrderChoice("all").rank(store.queue_rows())}
        for path, digits in labeled:
            store.label_set(ids[path], [cls[d] for d in digits])
        store.close()
        opts = TrainOptions(db=db, root=root, epochs=args.epochs, batch_size=32,
                            device="cpu", events="json", threshold=args.threshold,
                            seed=args.seed)
        start = time.monotonic()
        assert train(opts, Emitter("json", io.StringIO())) == 0
        seconds = time.monotonic() - start
        store = Store(db)
        run = store.latest_run()
        epochs = store.epochs(run["id"])
        store.close()
        best = max(epochs, key=lambda e: e["accuracy"])  # the first best, as the engine keeps
        best = next(e for e in epochs if e["accuracy"] == best["accuracy"])
        model, ckpt = load_checkpoint(Path(run["best_checkpoint"]))
        names = ckpt["class_names"]
        with DecodeCache.open(tmp / "held.db", 64) as cache:
            images, kept = from_cache(cache, [(k, tmp / "held" / p)
                                              for k, (p, _) in enumerate(held)])
            with torch.no_grad():
                probs = model(normalize(images[slice(None)])).sigmoid()
        truth = [[1 if int(name) in held[i][1] else 0 for name in names] for i in kept]
        scored = multi_label_report(truth, probs.tolist(), names, args.threshold)
        two = sum(len(s) == 2 for _, s in labeled)
        print(f"\nsmall-cnn, 64x64, {args.epochs} epochs, batch 32, threshold "
              f"{args.threshold}: {len(labeled)} labeled composites ({two} with two digits), "
              f"{run['num_train']} train / {run['num_val']} validation; "
              f"{len(kept)} held-out composites; run {seconds:.0f} s")
        own = best["report"]
        print_table(["set", "epoch", "exact-match accuracy", "micro-F1", "macro-F1"], [
            ["own validation (best epoch)", best["epoch"], f"{own['accuracy']:.3f}",
             f"{own['micro_f1']:.3f}", f"{own['macro_f1']:.3f}"],
            ["held-out composites", best["epoch"], f"{scored.accuracy:.3f}",
             f"{scored.micro_f1:.3f}", f"{scored.macro_f1:.3f}"],
        ])
        print()
        print_table(["held-out, threshold", "exact-match accuracy", "micro-F1", "macro-F1"], [
            [f"{t:.1f}", f"{r.accuracy:.3f}", f"{r.micro_f1:.3f}", f"{r.macro_f1:.3f}"]
            for t in (0.3, 0.5, 0.7)
            for r in [multi_label_report(truth, probs.tolist(), names, t)]])
        print()
        print_table(["digit", "precision", "recall", "F1", "support", "TP", "FP", "FN"],
                    [[c.name, f"{c.precision:.2f}", f"{c.recall:.2f}", f"{c.f1:.2f}",
                      c.support, c.tp, c.fp, c.fn] for c in scored.per_class])


if __name__ == "__main__":
    main()

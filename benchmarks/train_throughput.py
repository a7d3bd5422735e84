"""Training throughput: tui-label's engine against the plain tutorial loop, in one run.

    python benchmarks/train_throughput.py [--images 400] [--epochs 5] [--side 1024]

Both train the same small CNN (tui_label.trainer.models.SmallCNN), on the same train split of
the same generated JPEG photos, for the same epochs and batch size, at 64x64 pixels, and both
evaluate the same validation split after each epoch. The reference is the loop every tutorial
writes: torchvision ImageFolder + DataLoader (decoding and resizing every file every epoch),
torchvision transforms for augmentation. Both get one compute thread (the engine leaves one of
the two cores to the labeler). The reference runs twice: with the same CPU budget as the
engine (``num_workers=0``: one core) and with one DataLoader worker process decoding on the
second core (two cores). Images per second = training images seen (epochs x train split) /
wall time from the first file opened to the last epoch's end.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, print_table, stored_split  # noqa: E402

CLASSES = ["circle", "square", "stripes", "noise"]


def make_photos(root: Path, count: int, side: int) -> None:
    """Camera-like JPEGs (side x 3/4 side), one folder per class (ImageFolder layout)."""
    rng = np.random.default_rng(0)
    h = side * 3 // 4
    yy, xx = np.mgrid[0:h, 0:side]
    for i in range(count):
        cls = CLASSES[i % len(CLASSES)]
        base = rng.integers(40, 200, size=3)
        img = np.empty((h, side, 3), np.float32)
        img[:] = base
        cx, cy, r = rng.integers(side // 4, 3 * side // 4), rng.integers(h // 4, 3 * h // 4), h // 5
        if cls == "circle":
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = 255 - base
        elif cls == "square":
            img[cy - r:cy + r, cx - r:cx + r] = 255 - base
        elif cls == "stripes":
            img[(xx // max(side // 16, 1)) % 2 == 0] = 255 - base
        img += rng.normal(0, 25 if cls == "noise" else 8, size=img.shape)
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg",
                                                                quality=90)


def run_engine(root: Path, db: Path, epochs: int, batch: int) -> tuple[float, int, float]:
    from tui_label.config.settings import ClassSpec
    from tui_label.core.orders import OrderChoice
    from tui_label.media.scan import scan
    from tui_label.runs.emit import Emitter
    from tui_label.runs.options import TrainOptions
    from tui_label.store import Store
    from tui_label.trainer.run import train

    store = Store(db)
    store.set_classes([ClassSpec(c, str(k + 1)) for k, c in enumerate(CLASSES)])
    store.sync_images(scan(root))
    ids = {c.name: c.id for c in store.classes()}
    for item in OrderChoice("all").rank(store.queue_rows()):
        store.label(item.id, ids[item.path.split("/")[0]])
    store.close()
    out = io.StringIO()
    start = time.perf_counter()
    code = train(TrainOptions(db=db, root=root, epochs=epochs, batch_size=batch,
                              image_size=64, device="cpu", events="json"), Emitter("json", out))
    seconds = time.perf_counter() - start
    assert code == 0, out.getvalue()[-500:]
    store = Store(db)
    run = store.latest_run()
    acc = run["best_accuracy"]
    store.close()
    return seconds, run["num_train"], acc


def run_reference(root: Path, db: Path, epochs: int, batch: int,
                  workers: int) -> tuple[float, int, float]:
    """The tutorial loop, on the same train/validation split the engine stored."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from tui_label.trainer.models import SmallCNN

    torch.manual_seed(0)
    torch.set_num_threads(1)
    split = stored_split(db)
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train_tf = transforms.Compose([
        transforms.Resize(64), transforms.CenterCrop(64),
        transforms.RandomAffine(0, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        transforms.ToTensor(), norm])
    val_tf = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64),
                                 transforms.ToTensor(), norm])
    train_ds = datasets.ImageFolder(root, transform=train_tf)
    val_ds = datasets.ImageFolder(root, transform=val_tf)
    rel = [Path(p).relative_to(root).as_posix() for p, _ in train_ds.samples]
    train_idx = [i for i, r in enumerate(rel) if split.get(r) == "train"]
    val_idx = [i for i, r in enumerate(rel) if split.get(r) == "val"]
    train_dl = DataLoader(Subset(train_ds, train_idx), batch_size=batch, shuffle=True,
                          num_workers=workers)
    val_dl = DataLoader(Subset(val_ds, val_idx), batch_size=batch, num_workers=workers)
    model = SmallCNN(len(train_ds.classes))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    start = time.perf_counter()
    best = 0.0
    for _ in range(epochs):
        model.train()
        for x, y in train_dl:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in val_dl:
                correct += (model(x).argmax(1) == y).sum().item()
                total += len(y)
        best = max(best, correct / total)
    return time.perf_counter() - start, len(train_idx), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--side", type=int, default=1024, help="photo width in pixels")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        make_photos(root, args.images, args.side)
        db = Path(tmp) / "bench.db"
        eng_s, n_train, eng_acc = run_engine(root, db, args.epochs, args.batch_size)
        ref_s, ref_n, ref_acc = run_reference(root, db, args.epochs, args.batch_size, 0)
        ref2_s, _, ref2_acc = run_reference(root, db, args.epochs, args.batch_size, 1)
    eng_rate = n_train * args.epochs / eng_s
    ref_rate = ref_n * args.epochs / ref_s
    ref2_rate = ref_n * args.epochs / ref2_s
    print(f"\n{args.images} JPEGs {args.side}x{args.side * 3 // 4}, small-cnn at 64x64, "
          f"{args.epochs} epochs, batch {args.batch_size}, {n_train} train images, CPU")
    print_table(["loop", "seconds", "images/s", "best val accuracy"], [
        ["tui-label engine", f"{eng_s:.1f}", f"{eng_rate:.0f}", f"{eng_acc:.3f}"],
        ["ImageFolder + DataLoader, 1 core", f"{ref_s:.1f}", f"{ref_rate:.0f}",
         f"{ref_acc:.3f}"],
        ["ImageFolder + DataLoader + 1 worker, 2 cores", f"{ref2_s:.1f}", f"{ref2_rate:.0f}",
         f"{ref2_acc:.3f}"],
    ])
    print(f"speed-up, same CPU budget: {eng_rate / ref_rate:.1f}x (target: at least 3x); "
          f"against the reference with a second core: {eng_rate / ref2_rate:.1f}x")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()

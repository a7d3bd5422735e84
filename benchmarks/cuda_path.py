"""The CUDA path of issue 8, in one script for one call on a lent GPU (about 4 minutes there).

    python benchmarks/cuda_path.py --out DIR [--images 2000] [--epochs 3] [--batch-size 128]
    python benchmarks/cuda_path.py --out DIR --device cpu --images 48 --image-size 32 \\
        --oom-image-size 64 --oom-batch-size 16 --model small-cnn     # a smoke run, no GPU

What it runs, each in its own process, on photo-like 1024x768 JPEGs (scikit-image's
photographs, cropped, flipped and tinted; one class per source photo), every one labeled:

1. **Throughput.** ``tui-label cache`` fills the decode cache, then ``tui-label train --model
   resnet18 --image-size 224 --no-pretrained`` (bf16 autocast, channels_last, augmentation on
   the GPU) against the tutorial loop: torchvision ImageFolder + DataLoader with 8 workers and
   pinned memory, the same model, batch, epochs and train/validation split, once in fp32 as
   tutorials write it and once with the same bf16 autocast. Images/s = training images x
   epochs / the epochs' wall time (training and validation, both sides). Target: 3x.
2. **Precision and GPU memory**: the run's ``started`` event (``precision``) and the largest
   ``gpu_memory_mb`` / ``gpu_util`` of its ``step`` events (what the panel shows).
3. **Out of memory**: a run at ``--oom-image-size`` and ``--oom-batch-size`` fails with the
   one-line reason (``CUDA out of memory at batch size ...: try --batch-size ...``), its run
   marked failed, and the process exits 1 without a traceback on stdout.
4. **torchrun on the GPU**: ``--gpus 1`` (the launcher, NCCL) runs one epoch to the end.

Writes ``results.json`` and ``results.md`` under ``--out`` and prints the table. Needs on the
GPU machine: torch, torchvision, Pillow, numpy, scikit-image, rich, click, scikit-learn (its
image has them) and sqlite-utils with its two small dependencies, carried as wheels:

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --implementation cp --platform manylinux2014_x86_64 -d .whl \\
        sqlite-utils==4.2.1 click-default-group sqlite-fts4
    # there:
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site:. python3 benchmarks/cuda_path.py --out $OUT
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine_line, print_table, stored_split, trainer_events  # noqa: E402
from decode_cache import labeled_db, save_photo, sources  # noqa: E402

from tui_label.runs.events import Epoch, Event, Failed, Started, Step  # noqa: E402

WIDTH, HEIGHT = 1024, 768


_SOURCES: list = []


def _photo(args: tuple[Path, int, int, int]) -> None:
    root, i, width, height = args
    if not _SOURCES:  # once per worker process
        _SOURCES.extend(sources())
    save_photo(root, i, _SOURCES, np.random.default_rng(i), width, height, 90)


def make_photos(root: Path, count: int, width: int, height: int) -> None:
    """``count`` JPEGs on every core (one class folder per source photograph)."""
    with Pool(os.cpu_count() or 1) as pool:
        pool.map(_photo, [(root, i, width, height) for i in range(count)], chunksize=16)


def events_of(cmd: list[str], timeout: float) -> tuple[int, list[Event], str, float]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return done.returncode, trainer_events(done.stdout), done.stderr, time.perf_counter() - start


def tui_label(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui_label", *args]


def trainer(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui_label.trainer", *args]


def run_ours(db: Path, args) -> dict:
    """tui-label's own run: images/s over its epochs, precision, GPU memory."""
    code, events, err, wall = events_of(trainer(
        "--db", str(db), "--model", args.model, "--no-pretrained", "--image-size",
        str(args.image_size), "--batch-size", str(args.batch_size), "--epochs",
        str(args.epochs), "--device", args.device, "--events", "json"), timeout=1200)
    if code != 0:
        raise SystemExit(f"tui-label train failed ({code}): {err[-2000:]}")
    started = next(e for e in events if isinstance(e, Started))
    epochs = [e for e in events if isinstance(e, Epoch)]
    steps = [e for e in events if isinstance(e, Step)]
    seconds = sum(e.seconds for e in epochs)
    memory = [s.gpu_memory_mb for s in steps if s.gpu_memory_mb is not None]
    util = [s.gpu_util for s in steps if s.gpu_util is not None]
    return {"images_per_sec": started.num_train * len(epochs) / seconds,
            "epoch_seconds": [round(e.seconds, 3) for e in epochs],
            "accuracy": epochs[-1].report.accuracy, "precision": started.precision,
            "device": started.device, "num_train": started.num_train,
            "gpu_memory_mb": max(memory, default=None), "gpu_util": max(util, default=None),
            "wall_s": wall, "run_id": started.run_id}


TUTORIAL = r'''
import json, sys, time
from pathlib import Path
import torch, torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms, models

root, split_file, size, batch, epochs, device, amp, workers, model_name = sys.argv[1:10]
size, batch, epochs, workers = int(size), int(batch), int(epochs), int(workers)
split = json.loads(Path(split_file).read_text())
norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
train_tf = transforms.Compose([transforms.RandomResizedCrop(size, scale=(0.6, 1.0)),
                               transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])
val_tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size),
                             transforms.ToTensor(), norm])
train_ds = datasets.ImageFolder(root, transform=train_tf)
val_ds = datasets.ImageFolder(root, transform=val_tf)
rel = [Path(p).relative_to(root).as_posix() for p, _ in train_ds.samples]
train_idx = [i for i, r in enumerate(rel) if split.get(r) == "train"]
val_idx = [i for i, r in enumerate(rel) if split.get(r) == "val"]
pin = device == "cuda"
train_dl = DataLoader(Subset(train_ds, train_idx), batch_size=batch, shuffle=True,
                      num_workers=workers, pin_memory=pin, persistent_workers=workers > 0)
val_dl = DataLoader(Subset(val_ds, val_idx), batch_size=batch, num_workers=workers,
                    pin_memory=pin, persistent_workers=workers > 0)
n = len(train_ds.classes)
if model_name == "small-cnn":
    from tui_label.trainer.models import SmallCNN
    model = SmallCNN(n)
else:
    model = getattr(models, model_name)(weights=None, num_classes=n)
model = model.to(device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-4)
cast = (torch.autocast("cuda", dtype=torch.bfloat16) if amp == "bf16"
        else torch.autocast("cpu", enabled=False))
times = []
for _ in range(epochs):
    start = time.perf_counter()
    model.train()
    for x, y in train_dl:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with cast:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    correct = total = 0
    with torch.no_grad(), cast:
        for x, y in val_dl:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    if device == "cuda":
        torch.cuda.synchronize()
    times.append(time.perf_counter() - start)
print(json.dumps({"images_per_sec": len(train_idx) * epochs / sum(times),
                  "epoch_seconds": [round(t, 3) for t in times],
                  "accuracy": correct / total, "num_train": len(train_idx)}))
'''


def run_tutorial(root: Path, db: Path, args, amp: str, out: Path) -> dict:
    """The tutorial loop on the split tui-label's run stored (same images each side)."""

    split = stored_split(db)
    split_file = out / "split.json"
    split_file.write_text(json.dumps(split))
    script = out / "tutorial_loop.py"
    script.write_text(TUTORIAL)
    done = subprocess.run([sys.executable, str(script), str(root), str(split_file),
                           str(args.image_size), str(args.batch_size), str(args.epochs),
                           args.device, amp, str(args.workers), args.model],
                          capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise SystemExit(f"the tutorial loop failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_oom(root: Path, work: Path, args) -> dict:
    """A run far too large for the GPU: the one-line reason, the run marked failed."""
    from tui_label.store import Store

    small = work / "oom"
    small.mkdir()
    db = small / "labels.db"
    labeled_db(root, db)
    code, events, err, _ = events_of(trainer(
        "--db", str(db), "--model", args.model, "--no-pretrained", "--image-size",
        str(args.oom_image_size), "--batch-size", str(args.oom_batch_size), "--epochs", "1",
        "--device", args.device, "--events", "json", "--val-fraction", "0.5"), timeout=900)
    store = Store(db)
    run = store.latest_run()
    store.close()
    failed = [e for e in events if isinstance(e, Failed)]
    return {"exit_code": code, "reason": failed[-1].reason if failed else None,
            "run_status": run["status"] if run else None,
            "traceback_on_stderr": "Traceback" in err}


def run_gpus_one(db: Path, args) -> dict:
    code, events, err, wall = events_of(trainer(
        "--db", str(db), "--model", args.model, "--no-pretrained", "--image-size",
        str(args.image_size), "--batch-size", str(args.batch_size), "--epochs", "1",
        "--events", "json", *(["--gpus", "1"] if args.device == "cuda"
                              else ["--nproc", "1", "--device", "cpu"])), timeout=900)
    kinds = [e.kind for e in events]
    started = next((e for e in events if isinstance(e, Started)), None)
    return {"exit_code": code, "last_event": kinds[-1] if kinds else None,
            "device": started.device if started else None,
            "world_size": started.world_size if started else None,
            "stderr_tail": err[-600:] if code else "", "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=8, help="the tutorial's DataLoader")
    parser.add_argument("--oom-image-size", type=int, default=1024)
    parser.add_argument("--oom-batch-size", type=int, default=256)
    parser.add_argument("--oom-images", type=int, default=320)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine_line(), "args": {k: str(v) for k, v in
                                                         vars(args).items()}}
    if args.device == "cuda":
        import torch

        results["gpu"] = torch.cuda.get_device_name(0)
    print(results["machine"], results.get("gpu", ""), flush=True)
    # The photos and databases stay out of --out (only the results come back from a GPU).
    work = Path(tempfile.mkdtemp(prefix="cuda-path-"))
    root = work / "photos"
    start = time.perf_counter()
    make_photos(root, args.images, WIDTH, HEIGHT)
    results["photos_s"] = time.perf_counter() - start
    db = work / "labels.db"
    labeled_db(root, db)
    code, events, err, wall = events_of(tui_label(
        "cache", "--db", str(db), "--size", str(args.image_size), "--labeled"), timeout=900)
    if code != 0:
        raise SystemExit(f"tui-label cache failed: {err[-2000:]}")
    results["cache_fill_s"] = wall

    def step(name: str, fn, *a) -> None:
        t = time.perf_counter()
        try:
            results[name] = fn(*a)
        except SystemExit as exc:  # record, go on with the other checks
            results[name] = {"error": str(exc)}
        print(f"{name}: {time.perf_counter() - t:.1f} s {json.dumps(results[name])[:400]}",
              flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1))

    step("ours", run_ours, db, args)
    step("tutorial_fp32", run_tutorial, root, db, args, "fp32", work)
    if args.device == "cuda":
        step("tutorial_bf16", run_tutorial, root, db, args, "bf16", work)
    oom_root = work / "oom_photos"
    for path in sorted(root.rglob("*.jpg"))[:args.oom_images]:
        (oom_root / path.parent.name).mkdir(parents=True, exist_ok=True)
        os.link(path, oom_root / path.parent.name / path.name)
    step("out_of_memory", run_oom, oom_root, work, args)
    step("launcher_one_gpu", run_gpus_one, db, args)

    ours = results["ours"].get("images_per_sec", 0.0)
    rows = []
    for name in ("ours", "tutorial_fp32", "tutorial_bf16"):
        if name in results and "images_per_sec" in results[name]:
            r = results[name]
            rows.append([name, f"{r['images_per_sec']:.0f}", f"{ours / r['images_per_sec']:.2f}x",
                         ", ".join(f"{s:.2f}" for s in r["epoch_seconds"]),
                         f"{r['accuracy']:.3f}"])
    print_table(["loop", "images/s", "tui-label is", "epoch seconds", "accuracy"], rows)
    lines = ["| loop | images/s | tui-label against it | epoch seconds | accuracy |",
             "|---|---|---|---|---|"] + ["| " + " | ".join(r) + " |" for r in rows]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k not in ("ours",)}, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

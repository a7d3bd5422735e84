"""The persistent decode cache: a second run starts without decoding; memory stays bounded.

    python benchmarks/decode_cache.py reuse [--images 2000] [--size 224] [--steps 12]
    python benchmarks/decode_cache.py memory [--images 100000] [--size 128] [--seconds 90]

Photo-like JPEGs are made from scikit-image's photographs (random crops, flips and colour
shifts of astronaut, chelsea, coffee, rocket, ...; one class per source photo), so that they
decode like camera files. Install scikit-image for this script only.

**reuse**: 1024x768 JPEGs, quality 90, every image labeled (``--copies K``: each file also
under K-1 more names, hard links, so K times the images decode like the first ones). The
real trainer (``python -m tui_label.trainer``, small CNN, CPU) runs twice on a fresh database;
each run is stopped (SIGINT) after ``--steps`` step events. Timed: process start to the first
``step`` event (and its parts: to the first event, to ``started``, the first step), and the
images/s of the last step events. Target: the second run starts at least 10x faster, with
equal images/s. The cache's own part is the ``started`` event's ``prepared_s``: the seconds
the run took to decode (or read back) its images into memory.

**memory**: ``--images`` small JPEGs (256x192), every one labeled; ``tui-label cache`` builds
the cache (timed), then the trainer runs for ``--seconds`` and is stopped. The trainer's peak
RSS (``ru_maxrss`` of the finished child) must stay under 2 GB while its set is several GB of
pixels (it streams from the cache).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine_line, print_table  # noqa: E402

from tui_label.runs.events import (  # noqa: E402
    TERMINAL,
    Preparing,
    Started,
    Step,
    parse_line,
)

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg"]


def sources() -> list[tuple[str, Image.Image]]:
    try:
        import skimage
    except ImportError:
        raise SystemExit("pip install scikit-image (benchmark only: its sample photographs)"
                         ) from None
    folder = Path(skimage.__file__).parent / "data"
    return [(name.split(".")[0], Image.open(folder / name).convert("RGB")) for name in PHOTOS]


def make_photos(root: Path, count: int, width: int, height: int, quality: int = 90) -> None:
    """``count`` JPEGs, class folders named after the source photo."""
    rng = np.random.default_rng(0)
    photos = sources()
    for i in range(count):
        save_photo(root, i, photos, rng, width, height, quality)


def save_photo(root: Path, i: int, photos: list[tuple[str, Image.Image]],
               rng: np.random.Generator, width: int, height: int, quality: int) -> None:
    """JPEG ``i``: a random crop, tint and flip of a source photo, in its class folder."""
    name, photo = photos[i % len(photos)]
    scale = rng.uniform(1.0, 1.6) * max(width / photo.width, height / photo.height)
    big = photo.resize((int(photo.width * scale) + 1, int(photo.height * scale) + 1),
                       Image.Resampling.BILINEAR)
    x = int(rng.integers(0, big.width - width + 1))
    y = int(rng.integers(0, big.height - height + 1))
    crop = np.asarray(big.crop((x, y, x + width, y + height)), dtype=np.float32)
    crop = crop * rng.uniform(0.8, 1.2, size=3) + rng.normal(0, 4, size=crop.shape)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(crop.clip(0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg",
                                                             quality=quality)


def labeled_db(root: Path, db: Path) -> None:
    from tui_label.config.settings import ClassSpec
    from tui_label.core.orders import OrderChoice
    from tui_label.media.scan import scan
    from tui_label.store import Store

    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    store = Store(db)
    store.set_classes([ClassSpec(n, str(k + 1)) for k, n in enumerate(names)])
    store.sync_images(scan(root))
    store.set_setting("root", str(root))
    ids = {c.name: c.id for c in store.classes()}
    for item in OrderChoice("all").rank(store.queue_rows()):
        store.label(item.id, ids[item.path.split("/")[0]])
    store.close()


def run_trainer(db: Path, size: int, *, steps: int = 0, seconds: float = 0.0,
                extra: tuple[str, ...] = ()) -> dict:
    """Start the trainer, stop it after ``steps`` step events or ``seconds`` of training;
    return the timings and the child's peak RSS."""
    cmd = [sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--epochs", "50",
           "--image-size", str(size), "--device", "cpu", "--events", "json", *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = trained_from = started = preparing = prepared_s = None
    rates: list[float] = []
    decoded = None
    assert proc.stdout is not None
    for line in proc.stdout:
        event = parse_line(line)
        if isinstance(event, Preparing) and preparing is None:
            preparing = time.perf_counter() - start
        if isinstance(event, Started):
            started = time.perf_counter() - start
            decoded, prepared_s = event.decoded, event.prepared_s
        if isinstance(event, Step):
            now = time.perf_counter()
            if first is None:
                first, trained_from = now - start, now
            rates.append(event.images_per_sec)
            if (steps and len(rates) >= steps) or (seconds and now - trained_from >= seconds):
                proc.send_signal(signal.SIGINT)
        if isinstance(event, TERMINAL):
            break
    for _ in proc.stdout:
        pass
    proc.wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"first_step": first, "started": started, "preparing": preparing,
            "rate": float(np.median(rates[-5:])) if rates else 0.0, "decoded": decoded,
            "prepared_s": prepared_s,
            "maxrss_mb": usage.ru_maxrss / 1024}


def reuse(args) -> None:
    with tempfile.TemporaryDirectory(prefix="tui-label-bench-cache-") as tmp:
        root, db = Path(tmp) / "photos", Path(tmp) / "labels.db"
        t = time.perf_counter()
        make_photos(root, args.images, 1024, 768)
        print(f"made {args.images} JPEGs 1024x768 in {time.perf_counter() - t:.0f}s",
              flush=True)
        for path in sorted(root.rglob("*.jpg")):  # --copies: more images, the same decoding
            for k in range(1, args.copies):
                os.link(path, path.with_name(f"{path.stem}-{k}.jpg"))
        labeled_db(root, db)
        rows, ready = [], []
        for name in ("first run (empty cache)", "second run (cache filled)"):
            r = run_trainer(db, args.size, steps=args.steps)
            ready.append(r["prepared_s"])
            rows.append([name, r["decoded"], f"{r['prepared_s']:.2f}", f"{r['preparing']:.2f}",
                         f"{r['started'] - r['preparing']:.2f}",
                         f"{r['first_step'] - r['started']:.2f}", f"{r['first_step']:.2f}",
                         f"{r['rate']:.0f}"])
            print(f"  {name}: {r}", flush=True)
        print_table(["run", "images decoded", "images ready: decoded or read (s)",
                     "start to the first event (Python, torch; s)",
                     "first event to 'started' (images ready, optimizer made; s)",
                     "'started' to the first step (s)", "start to first step (s)",
                     "images/s"], rows)
        whole = float(rows[0][6]) / float(rows[1][6])
        print(f"start to first step: the second run is {whole:.1f}x faster (target >= 10x)")
        print(f"images ready (the cache's part): {ready[0] / ready[1]:.1f}x faster")


def memory(args) -> None:
    with tempfile.TemporaryDirectory(prefix="tui-label-bench-memory-") as tmp:
        root, db = Path(tmp) / "photos", Path(tmp) / "labels.db"
        t = time.perf_counter()
        make_photos(root, args.images, 256, 192, quality=85)
        print(f"made {args.images} JPEGs 256x192 in {time.perf_counter() - t:.0f}s", flush=True)
        labeled_db(root, db)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from tui_label.cli.main import main; main()",
                        "cache", "--db", str(db), "--labeled", "--size", str(args.size),
                        "--events", "human"], check=True)
        build = time.perf_counter() - t
        pixels = args.images * args.size * args.size * 3 / 2**30
        r = run_trainer(db, args.size, seconds=args.seconds)
        print_table(["images", "pixels in the cache", "cache build (s)", "images/s training",
                     "trainer peak RSS"],
                    [[args.images, f"{pixels:.1f} GiB", f"{build:.0f}", f"{r['rate']:.0f}",
                      f"{r['maxrss_mb']:.0f} MB"]])
        print("target: peak RSS at most 2 GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("reuse")
    a.add_argument("--images", type=int, default=2000)
    a.add_argument("--size", type=int, default=224)
    a.add_argument("--steps", type=int, default=12)
    a.add_argument("--copies", type=int, default=1,
                   help="hard links of each JPEG under other names: K times the images")
    b = sub.add_parser("memory")
    b.add_argument("--images", type=int, default=100_000)
    b.add_argument("--size", type=int, default=128)
    b.add_argument("--seconds", type=float, default=90)
    args = parser.parse_args()
    print(machine_line())
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    reuse(args) if args.what == "reuse" else memory(args)


if __name__ == "__main__":
    main()

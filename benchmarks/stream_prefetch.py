"""Streaming from the decode cache: what a batch read costs, and what reading ahead saves.

    python benchmarks/stream_prefetch.py [--images 3000] [--size 224] [--batch-size 256]
                                         [--step-ms 40]

A set larger than ``IN_MEMORY_BYTES`` is trained a batch at a time from the cache: each batch
is read (``os.preadv``), checked (CRC-32 per image), laid out NCHW and, for CUDA, pinned. On a
GPU the step itself is short, so a read done between steps leaves the GPU idle. This script
fills a cache with ``--images`` photo-like JPEGs at ``--size``, drops nothing from the page
cache (a warm epoch, the usual case on a server with memory), then times one epoch of batches:

- the read alone, per batch;
- a stand-in for a GPU step of ``--step-ms`` (the host thread sleeps while "the GPU"
  computes, as it waits on a CUDA synchronisation) after each batch, with the reads done in
  turn (``depth 0``, as before) and read ahead on their own thread (``depth 2``, now).

Ideal with reading ahead: max(read, step) per batch instead of read + step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine_line, print_table  # noqa: E402
from decode_cache import make_photos  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--step-ms", type=float, default=40.0)
    args = parser.parse_args()
    from tui_label.media.decode_cache import DecodeCache
    from tui_label.trainer import data as tdata

    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        make_photos(root, args.images, 320, 240, quality=85)
        paths = sorted(root.rglob("*.jpg"))
        with DecodeCache.open(Path(tmp) / "labels.db", args.size) as cache:
            images, _ = tdata.from_cache(cache, [(k + 1, p) for k, p in enumerate(paths)],
                                         workers=2)
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
            batches = tdata.batches(order, args.batch_size)
            for idx in batches:  # warm the page cache: every epoch after the first
                images.host(idx)
            start = time.perf_counter()
            for idx in batches:
                images.host(idx)
            read = (time.perf_counter() - start) / len(batches)
            rows = [["read alone", "-", f"{read * 1000:.1f}", "-"]]
            step = args.step_ms / 1000
            for depth in (0, 2):
                start = time.perf_counter()
                for _idx, _batch in tdata.prefetched(images, batches, depth=depth):
                    time.sleep(step)
                per = (time.perf_counter() - start) / len(batches)
                ideal = read + step if depth == 0 else max(read, step)
                rows.append([f"read + {args.step_ms:.0f} ms step", str(depth),
                             f"{per * 1000:.1f}", f"{ideal * 1000:.1f}"])
    mb = args.batch_size * args.size * args.size * 3 / 2**20
    print(f"{len(batches)} batches of {args.batch_size} images at {args.size} px "
          f"({mb:.0f} MB each)")
    print_table(["per batch", "read-ahead depth", "ms", "ideal ms"], rows)


if __name__ == "__main__":
    main()

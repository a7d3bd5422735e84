"""DDP on the CPU: 2 gloo ranks against 1 process, same global batch, on the sample digits.

    python benchmarks/ddp_cpu.py [--seeds 3] [--epochs 15] [--image-size 32]

Every digit labeled from the ground truth (500 images, a 20% validation split). Each seed
trains twice with the real CLI: ``tui-label train`` (one process) and ``tui-label train
--nproc 2 --device cpu`` (torchrun, two ranks, gloo), both with ``--batch-size 64`` (the
global batch: 32 per rank with two). Reported: best validation accuracy, training images/s
(mean of the epochs), wall time, and the store's run and epoch rows after each run (one run
row and one set of epoch rows is the target).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine_line, print_table, trainer_events  # noqa: E402

from tui_label.runs.events import Epoch, Started  # noqa: E402


def one(db: Path, seed: int, epochs: int, size: int, procs: int) -> dict:
    from tui_label.store import Store

    store = Store(db)
    before = store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    store.close()
    cmd = [sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--epochs", str(epochs),
           "--image-size", str(size), "--batch-size", "64", "--seed", str(seed), "--device",
           "cpu", "--events", "json"]
    if procs > 1:
        cmd += ["--nproc", str(procs)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    events = trainer_events(done.stdout)
    epochs_ev = [e for e in events if isinstance(e, Epoch)]
    store = Store(db)
    runs = store.conn.execute("SELECT id FROM runs WHERE id > ?", (before,)).fetchall()
    rows = store.conn.execute("SELECT COUNT(*), COUNT(DISTINCT epoch) FROM run_epochs WHERE "
                              "run_id = ?", (runs[-1][0],)).fetchone()
    store.close()
    return {"accuracy": max(e.report.accuracy for e in epochs_ev),
            "rate": statistics.mean(e.images_per_sec or 0.0 for e in epochs_ev), "wall": wall,
            "runs": len(runs), "epoch_rows": rows[0], "distinct": rows[1],
            "started": sum(isinstance(e, Started) for e in events)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()
    from tests.helpers.data import sample_store

    print(machine_line())
    rows, acc = [], {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="tui-label-bench-ddp-") as tmp:
        db = Path(tmp) / "digits.db"
        sample_store(db, per_class=1000).close()
        for seed in range(args.seeds):
            for procs in (1, 2):
                r = one(db, seed, args.epochs, args.image_size, procs)
                acc[procs].append(r["accuracy"])
                rows.append([seed, procs, f"{r['accuracy']:.3f}", f"{r['rate']:.0f}",
                             f"{r['wall']:.1f}", r["runs"], f"{r['epoch_rows']} "
                             f"({r['distinct']} distinct)", r["started"]])
                print(f"  seed {seed}, {procs} process(es): {r}", flush=True)
    print_table(["seed", "processes", "best accuracy", "images/s", "wall (s)", "run rows",
                 "epoch rows", "'started' events"], rows)
    for procs in (1, 2):
        print(f"{procs} process(es): accuracy mean {statistics.mean(acc[procs]):.3f}, "
              f"spread {min(acc[procs]):.3f}-{max(acc[procs]):.3f}")


if __name__ == "__main__":
    main()

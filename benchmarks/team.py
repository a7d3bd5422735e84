"""Two labelers on one database at 20 labels per second each for a minute (issue 9).

Run (defaults take about 70 s):

    /work/main/.venv/bin/python benchmarks/team.py
    /work/main/.venv/bin/python benchmarks/team.py --seconds 60 --rate 20 --overlap 0.1

Two processes (multiprocessing, started together) each drive a ``LabelSession`` (what the
labeling screen calls on a key) on the same database, in the default order (unlabeled first,
path order: both start at the same image), labeling the current image every 1/rate seconds.
Every 17th key is a skip. Each key is timed from call to return: its write is the label and the
leases of the images it moves on to, one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (the "commit").

Checked afterwards, from the database:

* no label lost: every event a process says it wrote is there, with its annotator;
* no image labeled (or skipped) by both outside the overlap share;
* no lock errors (a key refused because the other held the write lock past 200 ms);
* the commit p50 / p99 of each labeler, and for comparison the same keys without leases
  (``Store.add_event`` alone, the pre-issue-9 write) on a copy of the setup.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

from _common import add_machine_args, fmt_ms, p50_95_99, print_table, start

from tui_label.config.settings import ClassSpec
from tui_label.core.hashing import in_overlap
from tui_label.labeling.session import LabelSession
from tui_label.media.scan import ScannedFile
from tui_label.store import Store, StoreWriteError


def make_db(path: Path, images: int) -> None:
    store = Store(path)
    store.set_classes([ClassSpec(n, str(k + 1)) for k, n in enumerate("abcd")])
    store.sync_images(ScannedFile(f"img{i:06d}.png", 1, 1.0) for i in range(images))
    store.close()


def labeler(db: str, name: str, seconds: float, rate: float, overlap: float, leases: bool,
            go, out) -> None:
    store = Store(db, annotator=name)
    session = LabelSession(store, overlap=overlap)
    session.load()
    classes = [c.id for c in session.classes]
    times, written, errors = [], [], 0
    go.wait()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < seconds and session.current is not None:
        due = t0 + n / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        image_id = session.current.id
        a = time.perf_counter()
        try:
            if not leases:  # the write before issue 9, for comparison
                store.add_event(image_id, "label", classes[n % len(classes)])
                session.pos += 1
            elif n % 17 == 16:
                session.skip()
            else:
                session.label(classes[n % len(classes)])
        except StoreWriteError:
            errors += 1
            n += 1
            continue
        times.append(time.perf_counter() - a)
        written.append(image_id)
        n += 1
    out.put((name, times, written, errors, time.perf_counter() - t0))
    store.close()


def run(db: Path, args, leases: bool) -> dict:
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=labeler, args=(str(db), name, args.seconds, args.rate,
                                               args.overlap, leases, go, out))
             for name in ("alice", "bob")]
    for p in procs:
        p.start()
    time.sleep(2.0)  # both loaded
    go.set()
    results = {}
    for _ in procs:
        name, times, written, errors, wall = out.get()
        results[name] = {"times": times, "written": written, "errors": errors, "wall": wall}
    for p in procs:
        p.join()
    return results


def check(db: Path, results: dict, overlap: float) -> dict:
    store = Store(db)
    paths = dict(store.conn.execute("SELECT id, path FROM images"))
    per = {}
    for name in results:
        per[name] = [r[0] for r in store.conn.execute(
            "SELECT image_id FROM label_events WHERE annotator = ? ORDER BY id", (name,))]
    lost = sum(len(r["written"]) != len(per[n]) or r["written"] != per[n]
               for n, r in results.items())
    both = set(per["alice"]) & set(per["bob"])
    twice_outside = [i for i in both if not in_overlap(paths[i], overlap)]
    in_share = sum(in_overlap(p, overlap) for p in paths.values())
    store.close()
    return {"lost": lost, "both": len(both), "twice_outside": len(twice_outside),
            "share": in_share}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=20.0, help="labels per second each")
    parser.add_argument("--overlap", type=float, default=0.1)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run without leases")
    add_machine_args(parser)
    args = parser.parse_args()
    start(args)
    rows = []
    for leases in (True,) if args.no_baseline else (True, False):
        with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
            db = Path(tmp) / "team.db"
            make_db(db, args.images)
            results = run(db, args, leases)
            facts = check(db, results, args.overlap if leases else 0.0)
        for name, r in results.items():
            p50, p95, p99 = p50_95_99(r["times"])
            rows.append((
                "leases" if leases else "no leases (before)", name, len(r["written"]),
                f"{len(r['written']) / r['wall']:.1f}", r["errors"], fmt_ms(p50, 2),
                fmt_ms(p95, 2), fmt_ms(p99, 2), fmt_ms(max(r["times"], default=0), 1),
                facts["lost"], facts["both"], facts["twice_outside"], facts["share"]))
    print_table(["write", "labeler", "keys", "per s", "lock errors", "p50 ms", "p95 ms",
                 "p99 ms", "max ms", "lost (runs)", "by both", "twice outside share",
                 "images in share"], rows)


if __name__ == "__main__":
    main()

"""Helpers shared by the benchmark scripts: percentiles, tables, machine facts, a temp store."""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def p50_95_99(values: Sequence[float]) -> tuple[float, float, float]:
    return percentile(values, 50), percentile(values, 95), percentile(values, 99)


def fmt_ms(seconds: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.{digits}f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A compact fixed-width table on stdout."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n and i else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=False))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def machine_line() -> str:
    """One line describing where the numbers come from."""
    import sqlite3

    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = math.nan
    gpu = "GPU present" if Path("/dev/nvidia0").exists() else "no GPU"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {mem:.0f} GiB RAM, "
            f"{gpu}; Python {sys.version.split()[0]}, textual {_version('textual')}, "
            f"textual-image {_version('textual-image')}, Pillow {_version('pillow')}, "
            f"SQLite {sqlite3.sqlite_version}; load average now {load_average()}")


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (from /proc/stat); NaN where unavailable."""
    import time

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except OSError:
        return math.nan
    return (busy1 - busy0) / max(total1 - total0, 1)


def add_machine_args(parser) -> None:
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                        help="first wait up to S seconds for the CPUs to be idle (< 10%% busy "
                             "over 2 s): other work on the machine skews the numbers")


def start(args) -> None:
    """Print the machine line; optionally wait for the machine to be quiet; say how busy."""
    import time

    print(machine_line())
    deadline = time.monotonic() + args.wait_quiet
    busy = cpu_busy(2.0)
    while busy >= 0.10 and time.monotonic() < deadline:
        busy = cpu_busy(2.0)
    print(f"CPU busy before start (others): {busy:.0%}; calibration loop: {calibrate():.0f} ms "
          "(this VM's speed drifts: compare runs only when this is close)", flush=True)


def calibrate() -> float:
    """Median ms of a fixed pure-Python loop, to compare the machine's speed between runs."""
    import time

    def loop() -> int:
        total = 0
        for i in range(2_000_000):
            total += i * i
        return total

    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        loop()
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[2]


def load_average() -> str:
    """The 1-minute load average: above ~0.3 something else is using this machine."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def open_store(db_path: Path, root: Path, classes):
    """A Store on ``db_path`` with ``classes`` (ClassSpec list) and ``root`` scanned in."""
    from tui_label.media.scan import scan
    from tui_label.store import Store

    store = Store(db_path, annotator="bench")
    store.set_classes(classes)
    store.sync_images(scan(root))
    return store


def stored_split(db: Path) -> dict[str, str]:
    """``path -> "train" | "val"``: the split a tui-label run stored (for a reference loop)."""
    from tui_label.store import Store

    store = Store(db)
    try:
        return dict(store.conn.execute(
            "SELECT i.path, s.split FROM splits s JOIN images i ON i.id = s.image_id"))
    finally:
        store.close()


def trainer_events(stdout: str) -> list:
    """The typed events (``tui_label.runs.events``) in a trainer's ``--events json`` output."""
    from tui_label.runs.events import parse_line

    return [e for e in map(parse_line, stdout.splitlines()) if e is not None]

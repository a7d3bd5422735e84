"""Labels per minute with a simulated annotator: one image per key against the grid review.

    python benchmarks/throughput.py [--seed 0] [--sizes 80x24,160x48] [--first 100]

A scripted annotator labels the 500 bundled digits through the real app, headless (Textual's
run_test, half blocks), pressing the real keys. Its time is simulated, the app's is measured:
each figure is (simulated decision time + the app's own wall time) per label.

* **single**: one key per image, ``--decide`` s a decision (0.8), a wrong key with
  probability ``--slip`` (2 %).
* **grid after one run**: ``--first`` images (100) labeled as in single mode, then a run with
  the panel's default settings (the real trainer, CPU: its time is reported, not counted, as
  labeling goes on while it trains), then the grid: for each class, its "predicted as CLASS"
  pages, most confident first, while a page has a suggestion at least ``--confident`` (0.9)
  sure. Per page: ``--glance`` s per cell (0.25); a cell that is not the page's class is
  noticed with probability 1 - ``--miss`` (5 % missed) and corrected: its key chooses it and
  its class key labels it (``--decide`` s, a slip as in single mode); enter labels the rest
  as the page's class. What the grid leaves is labeled as in single mode. The grid phase is
  timed on its own as well. The run is made once and copied for each of ``--sizes``.

Label accuracy is against ground_truth.csv. Target (issue 18): the grid phase after the first
run at least 3x the single-image labels per minute, at equal or better accuracy.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import SAMPLE_DATA, machine_line, print_table  # noqa: E402

from tui_label.core.orders import OrderChoice  # noqa: E402
from tui_label.store import Store  # noqa: E402


class Clock:
    """The annotator's simulated seconds and the app's measured ones, per phase."""

    def __init__(self) -> None:
        self.simulated = 0.0
        self.app = 0.0
        self.labels = 0
        self.pages = 0
        self.corrections = 0

    def rate(self) -> float:
        return 60 * self.labels / max(self.simulated + self.app, 1e-9)


def truth() -> dict[str, str]:
    with open(SAMPLE_DATA / "ground_truth.csv") as f:
        return {row["path"]: row["label"] for row in csv.DictReader(f)}


def new_store(folder: Path) -> Path:
    db = folder / "labels.db"
    from tui_label.config.settings import ClassSpec
    from tui_label.media.scan import scan

    with Store(db, annotator="sim") as store:
        store.set_classes([ClassSpec(str(d), str(d)) for d in range(10)])
        store.sync_images(scan(SAMPLE_DATA))
        store.set_setting("root", str(SAMPLE_DATA.resolve()))
    return db


async def wait_for(pilot, predicate, what: str, tries: int = 2000) -> None:
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.005)
    raise SystemExit(f"timed out waiting for {what}")


async def single(pilot, app, clock: Clock, labels: dict[str, str], rng: random.Random,
                 args, limit: int | None = None) -> None:
    """One key per image until ``limit`` labels (or the queue's end)."""
    screen = app.label_screen
    session = screen.session
    done = 0
    while limit is None or done < limit:
        item = session.current
        if item is None or session.state(item.id).action == "label":
            break
        await wait_for(pilot, lambda item=item: screen.stage.shown_id == item.id, "the image")
        digit = labels[item.path]
        if rng.random() < args.slip:
            digit = rng.choice([d for d in "0123456789" if d != digit])
        clock.simulated += args.decide
        start = time.perf_counter()
        await pilot.press(digit)
        await wait_for(pilot, lambda item=item: session.current is None
                       or session.current.id != item.id, "the next image")
        clock.app += time.perf_counter() - start
        clock.labels += 1
        done += 1


async def grid_pass(pilot, app, clock: Clock, labels: dict[str, str], rng: random.Random,
                    args) -> None:
    """Every class's confident "predicted as" pages."""
    from tui_label.tui.screens.grid import GridScreen

    screen = app.label_screen
    names = {c.id: c.name for c in screen.session.classes}
    for class_id in names:
        screen.set_order(OrderChoice("predicted", class_id))
        await wait_for(pilot, lambda c=class_id: screen.session.order.class_id == c, "the order")
        start = time.perf_counter()
        await pilot.press("G")
        await wait_for(pilot, lambda: isinstance(app.screen, GridScreen), "the grid")
        grid_screen = app.screen
        clock.app += time.perf_counter() - start
        while True:
            g = grid_screen.grid
            page = g.page
            sure = [c for c in page.cells if c.suggestion and c.suggestion[1] >= args.confident]
            if not sure:
                break
            await wait_for(pilot, lambda g=g, n=page.number: g.drawn == n, "the page")
            start = time.perf_counter()
            corrected = 0
            for cell in page.cells:
                clock.simulated += args.glance
                digit = labels[cell.item.path]
                if digit != names[class_id] and rng.random() >= args.miss:
                    # Noticed: the cell's key chooses it, its digit labels it (a slip as
                    # likely as in single mode).
                    if rng.random() < args.slip:
                        digit = rng.choice([d for d in "0123456789" if d != digit])
                    clock.simulated += args.decide
                    await pilot.press(cell.key, digit)
                    corrected += 1
            kept = sum(not c.out for c in page.cells)
            await pilot.press("enter")
            await wait_for(pilot, lambda g=g, n=page.number: g.page.number != n, "the next page")
            clock.app += time.perf_counter() - start
            clock.pages += 1
            clock.corrections += corrected
            clock.labels += kept + corrected
        start = time.perf_counter()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "the labeler")
        clock.app += time.perf_counter() - start
    screen.set_order(OrderChoice())


def train(db: Path) -> float:
    """A run with the panel's defaults (the real trainer); its wall time."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--events",
                    "json", "--", str(SAMPLE_DATA)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def accuracy(db: Path, labels: dict[str, str]) -> tuple[int, float]:
    with Store(db) as store:
        names = {c.id: c.name for c in store.classes()}
        given = [(path, names[cid]) for _, path, action, cid, _ in store.label_states()
                 if action == "label"]
    right = sum(labels[p] == name for p, name in given)
    return len(given), right / max(len(given), 1)


async def run_app(db: Path, work, size: tuple[int, int]) -> None:
    from tui_label.tui.app import LabelApp
    from tui_label.tui.widgets.image_view import load_renderer

    store = Store(db, annotator="sim")
    app = LabelApp(store, SAMPLE_DATA.resolve(), load_renderer("halfcell"), rescan=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        await work(pilot, app)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("decide", 0.8), ("glance", 0.25), ("slip", 0.02), ("miss", 0.05),
                          ("confident", 0.9)]:
        parser.add_argument(f"--{name}", type=float, default=default)
    parser.add_argument("--first", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="80x24",
                        help="terminal sizes, comma-separated (one run serves them all)")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in size.split("x")) for size in args.sizes.split(",")]
    labels = truth()
    print(machine_line())
    folder = Path(tempfile.mkdtemp(prefix="throughput-"))
    rows = []
    try:
        trained = folder / "trained"
        trained.mkdir()
        db = new_store(trained)
        first = Clock()

        async def first_labels(pilot, app):
            await single(pilot, app, first, labels, random.Random(args.seed), args,
                         limit=args.first)

        asyncio.run(run_app(db, first_labels, sizes[0]))
        seconds = train(db)
        print(f"first {first.labels} single labels, then a run of {seconds:.0f} s (not "
              "counted)")
        for size in sizes:
            rows += measure(folder, trained, first, size, labels, args)
        print_table(["size", "mode", "labels", "labels/min", "accuracy", "vs single"], rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(folder: Path, trained: Path, first: Clock, size: tuple[int, int],
            labels: dict[str, str], args) -> list[list]:
    """Single mode on a new store, then the grid and single mode on a copy of the trained one."""
    name = f"{size[0]}x{size[1]}"
    db = new_store(folder / f"single-{name}")
    single_clock = Clock()

    async def single_all(pilot, app):
        await single(pilot, app, single_clock, labels, random.Random(args.seed), args)

    asyncio.run(run_app(db, single_all, size))
    n, acc = accuracy(db, labels)
    rows = [[name, "single", n, f"{single_clock.rate():.0f}", f"{acc:.3f}", "-"]]

    shutil.copytree(trained, folder / f"grid-{name}")
    db = folder / f"grid-{name}" / "labels.db"
    grid_clock, rest = Clock(), Clock()
    rng = random.Random(args.seed + 1)

    async def grid_then_rest(pilot, app):
        await wait_for(pilot, lambda: app.label_screen.session.model is not None,
                       "the model", tries=4000)
        await grid_pass(pilot, app, grid_clock, labels, rng, args)
        await single(pilot, app, rest, labels, rng, args)

    asyncio.run(run_app(db, grid_then_rest, size))
    n, acc = accuracy(db, labels)
    total = Clock()
    for c in (first, grid_clock, rest):
        total.simulated += c.simulated
        total.app += c.app
        total.labels += c.labels
    ratio = grid_clock.rate() / single_clock.rate()
    rows.append([name, "grid after one run: grid phase", grid_clock.labels,
                 f"{grid_clock.rate():.0f}", "", f"{ratio:.2f}x"])
    rows.append([name, "grid after one run: all", n, f"{total.rate():.0f}", f"{acc:.3f}",
                 f"{total.rate() / single_clock.rate():.2f}x"])
    print(f"{name}: the grid labeled {grid_clock.labels} on {grid_clock.pages} pages "
          f"({grid_clock.corrections} corrected with a class key; {grid_clock.simulated:.1f} s "
          f"simulated, {grid_clock.app:.1f} s the app's), single mode the last {rest.labels}; "
          f"single mode alone: {single_clock.simulated:.1f} s simulated, "
          f"{single_clock.app:.1f} s the app's")
    return rows


if __name__ == "__main__":
    main()

"""From pressing start in the training panel to the first loss point on screen.

    python benchmarks/train_first_loss.py [--repeats 3]

Runs the real app headless (Textual's run_test) on the sample digits with 100 labels, opens
the panel, presses T (small CNN, CPU) and waits until the first step's loss has been drawn
(the panel's loss curve was redrawn with at least one point, after a screen refresh). This
includes starting the trainer process (Python + torch import), decoding the images and the
first training steps. Target: under 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import SAMPLE_DATA, machine_line, print_table  # noqa: E402


async def once(db: Path) -> tuple[float, float]:
    from tui_label.store import Store
    from tui_label.tui.app import LabelApp
    from tui_label.tui.widgets.image_view import load_renderer
    from tui_label.tui.widgets.train_panel import TrainPanel

    store = Store(db)
    app = LabelApp(store, SAMPLE_DATA.resolve(), load_renderer("halfcell"), rescan=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("t")
        await pilot.pause(0.2)
        panel = app.screen.query_one(TrainPanel)
        state = lambda: app.label_screen.training.state  # noqa: E731
        start = time.perf_counter()
        await pilot.press("T")
        started = None
        while not (state().step_losses and panel._plotted_points > 0):
            if state().status == "running" and started is None:
                started = time.perf_counter() - start
            assert state().status not in ("failed",), state().reason
            await asyncio.sleep(0.01)
        await pilot.pause()  # the refresh that draws it
        first = time.perf_counter() - start
        await pilot.press("T")  # stop
        for _ in range(300):
            if not state().active:
                break
            await asyncio.sleep(0.05)
    store.close()
    return first, started or first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from tests.helpers.data import sample_store

    print(machine_line())
    rows = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "first.db"
            sample_store(db, per_class=10).close()
            first, started = asyncio.run(once(db))
            rows.append([i + 1, f"{started:.2f}", f"{first:.2f}"])
    print_table(["try", "'started' event (s)", "first loss on screen (s)"], rows)
    print("target: first loss on screen under 10 s")


if __name__ == "__main__":
    main()

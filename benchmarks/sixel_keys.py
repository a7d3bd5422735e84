"""Keys refused while sixel photos are drawn, at a steady pace (issue 17, item 12).

    python benchmarks/sixel_keys.py                       # 300 and 150 ms, 40 keys each
    python benchmarks/sixel_keys.py --intervals 300 --keys 14

The labeler runs headless (``App.run_test``, 160x48 cells of 10x20 pixels) with the sixel
renderer on the wire benchmark's camera-like photos (``benchmarks/wire.py``: scikit-image's
photographs upscaled to 1600-4000 px, JPEG quality 90; ``pip install scikit-image`` once to
make them), each image at most 1000x1000 pixels as xterm reports with XTSMGRAPHICS (its
default ``maxGraphicSize``; ``--max-size 0`` for none). After the first image is drawn, the
class key "1" comes every ``--interval`` ms, open loop (a typist who knows the data does not
wait for the screen), posted to the app as a terminal's keys are. A key that finds the next
image not drawn yet is refused with a bell: counted here.

Also reported: how many keys found the image they label drawn (``drawn at the key``), and
the time to prepare one image on a decode thread (decode, resize and sixel encoding, median
over the run; two decode threads share the machine's cores with the UI thread).

``--xterm``: the real command, ``tui-label label DIR --renderer sixel``, in a real xterm
(VT340 mode, 256 colour registers, as ``xterm-shot``) on a virtual X screen, the keys typed
by ``xdotool`` at the pace; refused = keys minus the labels stored. Needs the Debian packages
xvfb, xterm and xdotool.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import add_machine_args, open_store, print_table, start  # noqa: E402

SIZE = (160, 48)
TIMEOUT = 120.0


def photos(folder: Path, count: int) -> Path:
    from wire import make_photos

    make_photos(folder, count)
    return folder


async def wait_until(check, what: str):
    deadline = time.perf_counter() + TIMEOUT
    while not (value := check()):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
    return value


async def paced_keys(app, keys: int, interval: float) -> dict:
    """Post ``keys`` class keys ``interval`` seconds apart; count the refused ones."""
    from textual import events

    screen = app.label_screen
    bells = []
    app.bell = lambda: bells.append(time.perf_counter())
    ready = 0
    start_at = time.perf_counter()
    for n in range(keys):
        await asyncio.sleep(max(0.0, start_at + (n + 1) * interval - time.perf_counter()))
        stage = screen.stage
        ready += stage.seen_ms() is not None  # the image the key labels is drawn
        event = events.Key("1", "1")
        event.set_sender(app)
        app.post_message(event)
    await asyncio.sleep(interval)
    return {"refused": len(bells), "ready": ready}


async def run_one(root: Path, interval: float, keys: int, max_size, prepared: list) -> dict:
    from tui_label.config.settings import ClassSpec
    from tui_label.tui.app import LabelApp
    from tui_label.tui.widgets.image_view import load_renderer

    renderer = load_renderer("sixel")
    renderer = replace(renderer, max_size=max_size)

    def timed(image, _prepare=renderer.prepare):
        t0 = time.perf_counter()
        try:
            return _prepare(image)
        finally:
            prepared.append(time.perf_counter() - t0)

    renderer = replace(renderer, prepare=timed)
    with tempfile.TemporaryDirectory(prefix="tui-label-bench-") as tmp:
        store = open_store(Path(tmp) / "bench.db", root,
                           [ClassSpec("a", "1"), ClassSpec("b", "2")])
        app = LabelApp(store, root, renderer, rescan=False, live_head_every=0)
        try:
            async with app.run_test(size=SIZE):
                stage = app.label_screen.stage
                await wait_until(lambda: stage.painted, "first image")
                return await paced_keys(app, keys, interval)
        finally:
            store.close()


def xterm_run(root: Path, interval: float, keys: int, settle: float) -> dict:
    """Type ``keys`` class keys into the labeler in a real xterm; count the labels stored."""
    import os
    import random
    import sqlite3
    import subprocess

    with tempfile.TemporaryDirectory(prefix="tui-label-bench-") as tmp:
        db = Path(tmp) / "labels.db"
        env = dict(os.environ, DISPLAY=f":{random.randint(70, 99)}")
        xvfb = subprocess.Popen(["Xvfb", env["DISPLAY"], "-screen", "0", "1920x1200x24"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        command = (f"{sys.executable} -m tui_label label {root} --db {db} "
                   "--classes a,b --renderer sixel --no-suggestions --live-head 0")
        xterm = subprocess.Popen(
            ["xterm", "-ti", "vt340", "-xrm", "XTerm*decTerminalID: vt340", "-xrm",
             "XTerm*numColorRegisters: 256", "-fa", "Monospace", "-fs", "10",
             "-geometry", "160x48+0+0", "-e", command], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(settle)  # started, the first image drawn
            subprocess.run(["xdotool", "mousemove", "100", "100"], env=env, check=True)
            start_at = time.perf_counter()
            for n in range(keys):
                time.sleep(max(0.0, start_at + n * interval - time.perf_counter()))
                subprocess.Popen(["xdotool", "key", "1"], env=env)
            time.sleep(2.0)
            subprocess.run(["xdotool", "type", "q"], env=env, check=True)
            xterm.wait(timeout=30)
        finally:
            for proc in (xterm, xvfb):
                proc.kill()
                proc.wait()
        with sqlite3.connect(db) as conn:
            labels = conn.execute("SELECT COUNT(*) FROM current_labels").fetchone()[0]
    return {"refused": keys - labels, "ready": labels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intervals", default="300,150", help="ms between keys")
    parser.add_argument("--keys", type=int, default=40, help="keys per run")
    parser.add_argument("--runs", type=int, default=1, help="runs per interval")
    parser.add_argument("--max-size", default="1000x1000",
                        help="largest sixel image (xterm's default); 0: none")
    parser.add_argument("--xterm", action="store_true", help="in a real xterm (see above)")
    parser.add_argument("--settle", type=float, default=8.0,
                        help="--xterm: seconds from the start to the first key")
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "tui-label-wire-photos")
    add_machine_args(parser)
    args = parser.parse_args()
    start(args)
    root = photos(args.folder, 40)
    max_size = (None if args.max_size == "0"
                else tuple(int(v) for v in args.max_size.split("x")))
    where = ("a real xterm, VT340, 256 registers, Monospace 10" if args.xterm else
             f"headless, cells of 10x20 px, images at most {args.max_size} px")
    print(f"{SIZE[0]}x{SIZE[1]} cells, sixel, {args.keys} keys a run, {where}, {root}",
          flush=True)
    rows = []
    for interval in (float(v) for v in args.intervals.split(",")):
        for run in range(args.runs):
            prepared: list[float] = []
            if args.xterm:
                r = xterm_run(root, interval / 1000, args.keys, args.settle)
            else:
                r = asyncio.run(run_one(root, interval / 1000, args.keys, max_size, prepared))
            rows.append([f"{interval:.0f}", run + 1, args.keys, r["refused"],
                         f"{r['ready']}/{args.keys}",
                         f"{median(prepared) * 1000:.0f}" if prepared else "-"])
            print(f"  done: {interval:.0f} ms run {run + 1}", flush=True)
    print()
    print_table(["ms between keys", "run", "keys", "refused",
                 "labels stored" if args.xterm else "drawn at the key",
                 "prepare ms (median)"], rows)


if __name__ == "__main__":
    main()

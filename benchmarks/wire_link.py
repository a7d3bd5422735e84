"""The wire benchmark with ``--link`` presets (issue 11, item 4): bytes per image and keypress
to frame delivered, per renderer, link and preset.

    python benchmarks/wire_link.py                 # about 6 minutes
    python benchmarks/wire_link.py --renderers sixel --runs 2M:1.5:slow --presses 10

Each run is ``benchmarks/wire.py``'s session (the real ``tui-label label`` in a pty of
160x48 cells of 10x20 pixels, the script as the terminal behind the simulated link, the same
camera-like photos), with the preset's arguments added to the labeler's command line. See
wire.py's docstring for what is measured. The fake terminal does not answer XTSMGRAPHICS, so
sixel images are not capped to 1000x1000 as in xterm (as in foot or WezTerm).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wire  # noqa: E402
from _common import machine_line, percentile  # noqa: E402

PRESETS = {"default": [], "slow": ["--link", "slow"]}
LINK_NAMES = {"10M": "10 Mbit/s, 40 ms RTT", "2M": "2 Mbit/s, 80 ms RTT", "none": "none"}


@contextmanager
def labeler_args(extra: list[str]):
    """wire.run_session starts the labeler with ``extra`` added to its arguments."""
    popen = subprocess.Popen

    def with_extra(args, *rest, **kwargs):
        return popen([*args, *extra], *rest, **kwargs)

    wire.subprocess.Popen = with_extra
    try:
        yield
    finally:
        wire.subprocess.Popen = popen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renderers", default="halfcell,sixel")
    parser.add_argument("--runs", default="10M:1.5:default,2M:1.5:default,2M:1.5:slow",
                        help="LINK:PACE:PRESET, comma-separated")
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--drain", type=float, default=20.0)
    parser.add_argument("--photos", type=Path,
                        default=Path(tempfile.gettempdir()) / "tui-label-wire-photos")
    args = parser.parse_args()
    print(machine_line())
    wire.make_photos(args.photos, args.presses + 10)
    size = tuple(int(v) for v in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.runs.split(","):
            link, pace, preset = spec.split(":")
            for renderer in args.renderers.split(","):
                t = time.monotonic()
                with labeler_args(PRESETS[preset]):
                    run = wire.run_session(args.photos, renderer, size, link, float(pace),
                                           args.presses, args.drain, Path(tmp))
                lat = run.latency + [math.inf] * run.missed
                rows.append((renderer, preset, link, pace, run, lat))
                print(f"{renderer} {preset} {link} {pace}: "
                      f"{wire.kb(median(run.bytes_to_frame)) if run.bytes_to_frame else '-'}, "
                      f"p95 {percentile(lat, 95):.3f} s, missed {run.missed}, "
                      f"{time.monotonic() - t:.0f} s", flush=True)

    def show(seconds: float) -> str:
        return "not delivered" if math.isinf(seconds) else wire.ms(seconds)

    print("\n| renderer | preset | link | one key every | bytes to the frame end | until the "
          "next key | p50 | p95 | max | keys | frames missing |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for renderer, preset, link, pace, run, lat in rows:
        to_frame = wire.kb(median(run.bytes_to_frame)) if run.bytes_to_frame else "-"
        per_key = wire.kb(median(run.bytes_per_key)) if run.bytes_per_key else "-"
        print(f"| {renderer} | {preset} | {LINK_NAMES[link]} | {pace} s | {to_frame} | "
              f"{per_key} | {show(percentile(lat, 50))} | {show(percentile(lat, 95))} | "
              f"{show(max(lat))} | {len(run.latency)} | {run.missed} |")


if __name__ == "__main__":
    main()

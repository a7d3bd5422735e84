"""Sixel bytes per image, and what each encoding step saves (issue 11, item 4).

    python benchmarks/sixel_bytes.py               # 12 photos, about a minute
    python benchmarks/sixel_bytes.py --photos 40

The wire benchmark's camera-like photos (``benchmarks/wire.py``: scikit-image photographs
upscaled to 1600-4000 px with sensor-like noise, JPEG quality 90), decoded as the labeler does
for a 160x48 terminal with 10x20-pixel cells (an image area of 160x44 cells: 1320x880 pixels
for a 3:2 photo), then encoded each way. No terminal, no link: bytes of the sixel sequence
alone, and the encoding time on this machine (done off the UI thread, before the key).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine_line  # noqa: E402
from wire import make_photos  # noqa: E402

from tui_label.config.fidelity import LINKS  # noqa: E402
from tui_label.media.decode import Geometry, decode_for_display  # noqa: E402
from tui_label.tui.renderers import sixel_encode  # noqa: E402

GEOMETRY = Geometry(160, 44, cell=(10, 20), density=(10, 20))


def textual_image_default(image) -> str:
    from textual_image._sixel import image_to_sixels

    return image_to_sixels(image, background=(0, 0, 0, 1.0))  # what the labeler sent before


def variants() -> dict[str, object]:
    slow = LINKS["slow"]
    return {
        "before: textual-image, 256 colours": textual_image_default,
        "median filter only": lambda im: sixel_encode(im, merge=0, denoise=True),
        "column merge 24 only": lambda im: sixel_encode(im, merge=24, denoise=False),
        "median + merge 20": lambda im: sixel_encode(im, merge=20),
        "default: median + merge 24": lambda im: sixel_encode(im),
        "median + merge 32": lambda im: sixel_encode(im, merge=32),
        "slow: 64 colours, median + merge 32": lambda im: sixel_encode(
            im, colors=slow.sixel_colors, merge=slow.sixel_merge),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "tui-label-wire-photos")
    args = parser.parse_args()
    print(machine_line())
    paths = make_photos(args.folder, max(args.photos, 40))[:args.photos]
    caps = {"": GEOMETRY, " (cap 480,000 px)": GEOMETRY.__class__(
        160, 44, (10, 20), (10, 20), max_pixels=LINKS["slow"].max_pixels)}
    print("\n| encoding | pixels per image (median) | bytes per image (median) | "
          "vs before (median of the ratios, same photo) | encode ms (median) |")
    print("|---|---|---|---|---|")
    before = None
    for cap_name, geometry in caps.items():
        images = [decode_for_display(p, geometry).image for p in paths]
        pixels = median(im.width * im.height for im in images)
        for name, encode in variants().items():
            if cap_name and not name.startswith("slow"):
                continue
            sizes, times = [], []
            for im in images:
                t = time.perf_counter()
                sizes.append(len(encode(im)))
                times.append(time.perf_counter() - t)
            size = median(sizes)
            before = before or sizes
            ratio = median(n / b for n, b in zip(sizes, before, strict=True))
            print(f"| {name}{cap_name} | {pixels:,.0f} | {size / 1000:,.0f} KB | "
                  f"{ratio:.0%} | {median(times) * 1000:.0f} |", flush=True)


if __name__ == "__main__":
    main()

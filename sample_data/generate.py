"""Regenerate the bundled sample data from scikit-learn's copy of the UCI digits.

Run once by a maintainer (scikit-learn is not a runtime dependency):

    pip install scikit-learn && python sample_data/generate.py

Writes ``digits/<nnnn>.png`` (500 images, 8x8 upscaled to 64x64), ``ground_truth.csv``
(image path relative to this folder, digit) and leaves ``tui-label.toml`` and ``LICENSE`` alone.
The images are named by index only, so the labeler cannot read the answer from the path.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
COUNT = 500
SIZE = 64


def main() -> None:
    digits = load_digits()
    out = HERE / "digits"
    out.mkdir(exist_ok=True)
    # A fixed shuffle: the source is ordered 0,1,2,...,9,0,1,... and file order must not
    # give the answer away.
    picks = np.random.default_rng(0).permutation(len(digits.images))[:COUNT]
    rows = []
    for i, src in enumerate(picks):
        # 0..16 ink intensity -> dark ink on white paper, like a scanned form.
        pixels = (255 - digits.images[src] * (255 / 16)).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(pixels, mode="L").resize((SIZE, SIZE), Image.Resampling.NEAREST)
        name = f"digits/{i:04d}.png"
        image.save(HERE / name, optimize=True)
        rows.append((name, int(digits.target[src])))
    with open(HERE / "ground_truth.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} images to {out}")


if __name__ == "__main__":
    main()

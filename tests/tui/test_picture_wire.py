"""Bytes on the wire from the real labeler in a pty (issue 11): each image is sent once."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.helpers.pty_app import HALF, PtyApp, frames, make_photos, sixels
from tui_label.config.fidelity import LINKS

# landscape and portrait in turn: every key changes the picture's size (a new layout)
SIZES = [(640, 400), (400, 640), (640, 400), (400, 640)]


def labeler(tmp_path: Path, renderer: str, *extra: str) -> list[str]:
    data = tmp_path / "data"
    make_photos(data, SIZES)
    return ["label", str(data), "--classes", "a,b", "--db", str(tmp_path / "l.db"),
            "--renderer", renderer, "--no-suggestions", "--live-head", "0", *extra]


def press_through(app: PtyApp, paints, images: int) -> list[bytes]:
    """Wait for the first image, then label each image until ``images`` were shown; the
    image paints, in order (``paints(output)``: one fingerprint per paint)."""
    for shown in range(1, images + 1):
        assert app.wait_for(lambda out, n=shown: len(set(paints(out))) >= n), \
            f"image {shown} never arrived"
        if shown < images:
            app.write(b"1")
    time.sleep(0.5)  # room for a repaint, if one were coming (it must not)
    out = app.output()
    assert app.close() == 0
    return paints(out)


def assert_each_sent_once(painted: list[bytes], images: int) -> None:
    # every image is drawn exactly once: the first one while the app starts too, and each
    # image a key brings, even when its size differs from the one before
    assert len(set(painted)) == images
    assert len(painted) == images, f"{len(painted) - images} repaints"


def sixel_paints(out: bytes) -> list[bytes]:
    return [data for _, _, data in sixels(out)]


HALF_RUN = re.compile(rb"\x1b\[[0-9;]*m(?:\xe2\x96\x80)+")


def halfcell_paints(out: bytes) -> list[bytes]:
    return [b"".join(HALF_RUN.findall(f)) for f in frames(out) if f.count(HALF) > 200]


@pytest.mark.parametrize("extra", [(), ("--link", "slow")])
def test_sixel_each_image_is_sent_once(tmp_path: Path, extra):
    app = PtyApp(labeler(tmp_path, "sixel", *extra), terminal="sixel")
    painted = press_through(app, sixel_paints, len(SIZES))
    assert_each_sent_once(painted, len(SIZES))


def test_halfcell_each_image_is_sent_once(tmp_path: Path):
    app = PtyApp(labeler(tmp_path, "halfcell"))
    assert_each_sent_once(press_through(app, halfcell_paints, len(SIZES)), len(SIZES))


@pytest.mark.parametrize("extra, cap, colours", [
    ((), None, 256),
    (("--link", "slow"), LINKS["slow"].max_pixels, LINKS["slow"].sixel_colors),
    (("--link", "slow", "--max-pixels", "60000"), 60_000, LINKS["slow"].sixel_colors),
])
def test_link_preset_and_pixel_cap_on_the_wire(tmp_path: Path, extra, cap, colours):
    app = PtyApp(labeler(tmp_path, "sixel", *extra), size=(120, 40), terminal="sixel")
    painted = press_through(app, sixel_paints, 2)
    sizes = [sixel_raster(data) for data in painted]
    assert all(registers <= colours for _, registers in sizes)
    pixels = [width * height for (width, height), _ in sizes]
    if cap is not None:
        assert max(pixels) <= cap
    else:
        assert max(pixels) > LINKS["slow"].max_pixels  # the default has no cap


def test_slow_link_half_blocks_use_the_256_colour_palette(tmp_path: Path):
    app = PtyApp(labeler(tmp_path, "halfcell", "--link", "slow"))
    painted = press_through(app, halfcell_paints, 2)
    for data in painted:
        assert b"38;5;" in data and b"38;2;" not in data and b"48;2;" not in data


def sixel_raster(data: bytes) -> tuple[tuple[int, int], int]:
    m = re.match(rb'\x1bP[0-9;]*q"1;1;(\d+);(\d+)', data)
    return (int(m.group(1)), int(m.group(2))), len(set(re.findall(rb"#(\d+);2;", data)))


def test_sixel_fits_the_largest_image_the_terminal_draws(tmp_path: Path):
    # xterm draws no sixel image over 1000x1000 (its maxGraphicSize) and says so when asked:
    # a 160x48 image area of 10x20-pixel cells would be 1600 wide
    app = PtyApp(labeler(tmp_path, "sixel"), size=(160, 48), terminal="sixel",
                 sixel_max=(1000, 1000))
    painted = press_through(app, sixel_paints, 2)
    sizes = [sixel_raster(data)[0] for data in painted]
    assert all(w <= 1000 and h <= 1000 for w, h in sizes)
    assert max(w for w, _ in sizes) > 900  # as large as allowed, not smaller

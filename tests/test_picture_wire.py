"""Bytes on the wire from the real labeler in a pty (issue 11): each image is sent once."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.pty_app import HALF, PtyApp, frames, make_photos, sixels

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
    # The first image may be drawn more than once while the app starts; every image a key
    # brings is drawn exactly once, even when its size differs from the one before.
    later = [p for p in painted if p != painted[0]]
    assert len(set(later)) == images - 1
    assert len(later) == images - 1, f"{len(later) - images + 1} repaints"


def sixel_paints(out: bytes) -> list[bytes]:
    return [data for _, _, data in sixels(out)]


HALF_RUN = re.compile(rb"\x1b\[[0-9;]*m(?:\xe2\x96\x80)+")


def halfcell_paints(out: bytes) -> list[bytes]:
    return [b"".join(HALF_RUN.findall(f)) for f in frames(out) if f.count(HALF) > 200]


def test_sixel_each_image_is_sent_once(tmp_path: Path):
    app = PtyApp(labeler(tmp_path, "sixel"), terminal="sixel")
    painted = press_through(app, sixel_paints, len(SIZES))
    assert_each_sent_once(painted, len(SIZES))


def test_halfcell_each_image_is_sent_once(tmp_path: Path):
    app = PtyApp(labeler(tmp_path, "halfcell"))
    assert_each_sent_once(press_through(app, halfcell_paints, len(SIZES)), len(SIZES))

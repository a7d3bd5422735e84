"""Start-up detection (issue 11, item 5): the real labeler in a pty whose terminal is silent,
slow, or an old kitty. It never hangs, never sends textual-image's own queries, and never turns
an answer into a key press or stray text."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.helpers.pty_app import HALF, PtyApp, make_photos, sixels
from tui_label.terminal.probe import FIRST_ROUND, PROBE_SECONDS, SECOND_ROUND, SIXEL_SIZE_QUERY

TEXTUAL_IMAGE_KITTY_QUERY = b"a=q,t=d,f=24"  # textual-image's probe (ours has i=31 first)
PLACEHOLDER = chr(0x10EEEE).encode()


def labeler(tmp_path: Path) -> list[str]:
    data = tmp_path / "data"
    make_photos(data, [(320, 200), (200, 320), (320, 200)])
    return ["label", str(data), "--classes", "a,b", "--db", str(tmp_path / "l.db"),
            "--no-suggestions", "--live-head", "0"]


def half_block_image(out: bytes) -> bool:
    # a silent terminal does not answer Textual's synchronized-output query either: its
    # frames are not marked, so count the half blocks in all of it
    return out.count(HALF) > 300


def events(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "l.db") as db:
        return db.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]


def test_silent_terminal_starts_with_half_blocks_after_one_round(tmp_path: Path):
    app = PtyApp(labeler(tmp_path), terminal="silent")
    # a hang fails here (the bound is for a stuck process, not a measurement)
    assert app.wait_for(half_block_image, timeout=60), "no image: start-up hung"
    out = app.output()
    assert app.close() == 0
    assert out.count(FIRST_ROUND.encode()) == 1
    # nothing whose answer could become keys was asked of a terminal that never answered
    assert SECOND_ROUND.encode() not in out
    assert TEXTUAL_IMAGE_KITTY_QUERY not in out and b"\x1b_G" not in out
    assert out.count(b"\x1b[c") == 1  # ours; textual-image asked nothing itself
    # the probe ended before Textual took the screen (its alternate screen comes after)
    assert out.index(FIRST_ROUND.encode()) < out.index(b"\x1b[?1049h")


def test_late_answers_are_neither_keys_nor_text(tmp_path: Path):
    # every answer comes after the first round's limit, as over a link with a long stall
    app = PtyApp(labeler(tmp_path), terminal="kitty", xtversion="kitty(0.26.5)",
                 delay=PROBE_SECONDS + 0.5)
    assert app.wait_for(half_block_image, timeout=60), "no image: start-up hung"
    time.sleep(PROBE_SECONDS + 1.0)  # the late answers arrive while the labeler runs
    out = app.output()
    assert app.close() == 0
    assert SECOND_ROUND.encode() not in out  # too late to be asked the APC/DCS questions
    assert events(tmp_path) == 0  # no answer was taken for a class key
    assert b"62;22c" not in out.split(b"\x1b[?1049h", 1)[1]  # nor drawn as text


def test_old_kitty_gets_direct_placements_never_placeholders(tmp_path: Path):
    app = PtyApp([*labeler(tmp_path), "--renderer", "auto"], terminal="kitty",
                 xtversion="kitty(0.26.5)")
    assert app.wait_for(lambda out: b"a=p," in out, timeout=60), "no kitty placement"
    out = app.output()
    assert app.close() == 0
    assert out.count(SECOND_ROUND.encode()) == 1
    assert SIXEL_SIZE_QUERY.encode() not in out  # kitty logs it as a parse error
    assert PLACEHOLDER not in out and b"U=1" not in out  # the wall of boxes cannot appear


def test_sixel_terminal_gets_sixel_sized_to_what_it_draws(tmp_path: Path):
    app = PtyApp([*labeler(tmp_path), "--renderer", "auto"], size=(160, 48), terminal="sixel",
                 sixel_max=(800, 600))
    assert app.wait_for(lambda out: sixels(out), timeout=60), "no sixel image"
    out = app.output()
    assert app.close() == 0
    assert out.count(SIXEL_SIZE_QUERY.encode()) == 1  # asked: its attributes say sixel
    assert all(w <= 800 and h <= 600 for w, h, _ in sixels(out))


def test_a_terminal_that_goes_away_ends_the_labeler(tmp_path: Path):
    """The pty's other side closes (the terminal is gone, with no hangup signal: the app is
    in a session of its own): the labeler ends instead of polling the dead descriptor."""
    import os

    app = PtyApp(labeler(tmp_path), terminal="plain")
    assert app.wait_for(half_block_image, timeout=60), "no image"
    master, app.master = app.master, -1
    os.close(master)
    try:
        app.proc.wait(20)  # a bound for a stuck process, not a measurement
    except Exception:
        raise AssertionError("the labeler ran on with its terminal gone") from None
    assert app.proc.returncode != 0  # ended by the hangup

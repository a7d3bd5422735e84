"""Kitty graphics inside tmux (issue 11, item 3): the real labeler in a real tmux, whose client
runs in a pty played by this test as a kitty 0.35 terminal. With ``allow-passthrough on`` the
image reaches the terminal as a kitty upload, a virtual placement and Unicode placeholder
cells; with passthrough off the labeler falls back to half blocks."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.pty_app import HALF, make_photos
from tests.helpers.tmux_client import TmuxClient, TmuxServer
from tui_label.store import Store
from tui_label.terminal.kitty import parse_commands
from tui_label.terminal.tmux import PLACEHOLDER, TmuxCheck, tmux_placeholders


def tmux_version() -> tuple[int, int]:
    if not shutil.which("tmux"):
        return (0, 0)
    m = re.search(r"(\d+)\.(\d+)", subprocess.run(["tmux", "-V"], capture_output=True,
                                                   text=True).stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


needs_passthrough = pytest.mark.skipif(tmux_version() < (3, 3),
                                       reason="tmux 3.3 or later (allow-passthrough) needed")


@pytest.fixture
def tmux_session(tmp_path: Path):
    started: list[tuple[TmuxServer, TmuxClient]] = []

    def start(passthrough: bool) -> tuple[TmuxClient, Path]:
        photos = tmp_path / "photos"
        make_photos(photos, [(900, 600), (600, 900), (800, 600)])
        db = tmp_path / "l.db"
        labeler = (f"{sys.executable} -m tui_label label {photos} --classes a,b --db {db} "
                   "--no-suggestions --live-head 0 --order unlabeled")  # path order
        server = TmuxServer(tmp_path, f"set -g allow-passthrough {'on' if passthrough else 'off'}"
                                      "\nset -g status off\n", labeler)
        # the labeler starts once the client is attached: tmux then knows the terminal
        outer = TmuxClient(server, "xterm-kitty", xtversion="kitty(0.35.2)",
                           da2="\x1b[>1;4000;29c")
        started.append((server, outer))
        server.release()
        return outer, db

    yield start
    for server, outer in started:
        outer.close()
        server.kill()


def kitty_commands(data: bytes):
    return [c for _, c in parse_commands(data)]


@needs_passthrough
def test_inside_tmux_images_reach_the_terminal_as_placeholders(tmux_session):
    outer, db = tmux_session(passthrough=True)
    assert outer.wait_for(lambda d: PLACEHOLDER.encode() in d and b"U=1" in d, 60), \
        outer.output()[-600:]
    # A layout that settles after the first frame (a loaded machine) fits the image again:
    # a new upload, the old one deleted. Wait until the uploads stop.
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < 1.5:
        now = sum(c.action == "t" for c in kitty_commands(outer.output()))
        if now != seen:
            seen, since = now, time.monotonic()
        time.sleep(0.1)
    snapshot = outer.output()
    commands = kitty_commands(snapshot)  # tmux unwrapped them for the terminal
    uploads = [c for c in commands if c.action == "t"]
    virtual = [c for c in commands if c.action == "p" and c.keys.get("U") == "1"]
    assert uploads and virtual
    assert virtual[-1].image_id == uploads[-1].image_id
    assert len(uploads[-1].payload) > 1000  # the image itself
    # the placeholder cells carry the image id as their colour, intact through tmux
    colours = re.findall(rb"\x1b\[38;5;(\d+)m" + PLACEHOLDER.encode(), snapshot)
    assert colours and colours[-1] == str(uploads[-1].image_id).encode()
    assert set(colours) <= {str(c.image_id).encode() for c in uploads}
    shown, mark = uploads[-1].image_id, len(snapshot)

    def replaced(d: bytes) -> bool:
        return any(c.action == "d" and c.image_id == shown for c in kitty_commands(d[mark:]))

    def labeled() -> int:
        store = Store(db)
        try:
            return store.counts().labeled
        finally:
            store.close()

    # Label: the next image replaces it. A key that comes before the labeler counts the image
    # as drawn is refused (by design), so the key is sent again until it is taken.
    for _ in range(10):
        outer.write(b"1")
        if outer.wait_for(replaced, 3):
            break
    assert replaced(outer.output()) and labeled() >= 1
    # the next image goes up whole (ahead of the key, or after the old one is deleted)
    assert outer.wait_for(lambda d: any(c.action == "t" and c.image_id != shown
                                        for c in kitty_commands(d[mark:])), 30)
    assert HALF not in outer.output()


@needs_passthrough
def test_without_passthrough_tmux_gets_half_blocks(tmux_session):
    outer, _db = tmux_session(passthrough=False)
    assert outer.wait_for(lambda d: d.count(HALF) > 200, 60)
    time.sleep(0.5)
    assert b"\x1b_G" not in outer.output()
    assert PLACEHOLDER.encode() not in outer.output()


def test_the_tmux_check_reads_passthrough_and_the_outer_terminal():
    def asker(answer: str):
        return lambda args: answer

    env = {"TMUX": "/tmp/tmux-0/default,1,0", "TMUX_PANE": "%1"}
    assert tmux_placeholders({}, asker("")) == TmuxCheck(False, "not inside tmux")
    assert tmux_placeholders(env, asker("1|kitty(0.35.2)|xterm-kitty\n")).usable
    assert tmux_placeholders(env, asker("1||xterm-ghostty\n")).usable
    off = tmux_placeholders(env, asker("0|kitty(0.35.2)|xterm-kitty\n"))
    assert not off.usable and "allow-passthrough" in off.why
    old = tmux_placeholders(env, asker("1|kitty(0.26.5)|xterm-kitty\n"))
    assert not old.usable and "kitty(0.26.5)" in old.why
    assert not tmux_placeholders(env, asker("1|XTerm(379)|xterm-256color\n")).usable


def test_passthrough_wraps_each_escape_code_with_its_escs_doubled():
    from tui_label.terminal import kitty, tmux

    place, delete = kitty.place(20, 3, 2), kitty.delete(20)
    assert tmux.passthrough(place + delete) == b"".join(
        b"\x1bPtmux;" + c.replace(b"\x1b", b"\x1b\x1b") + b"\x1b\\" for c in (place, delete))
    assert tmux.passthrough(place).count(b"\x1b\x1b") == 2  # the APC's opening and end

"""The grid review inside tmux (issue 18): ``tui-label label DIR --grid`` on the bundled digits
with a finished run, in a real tmux whose client runs in a pty played by this test as a plain
xterm (no graphics). The renderer's automatic choice gives half blocks there; at 80x24 a page
of 4x3 thumbnails is drawn with its header and a caption per cell, and ``enter`` labels the
page as its class."""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

import pytest

from tests.helpers.data import SAMPLE_DATA
from tests.helpers.fake_model import save_run
from tests.helpers.pty_app import HALF
from tests.helpers.tmux_client import TmuxClient, TmuxServer, tui_label_script
from tui_label.config.settings import load_config_classes, resolve_classes
from tui_label.media.scan import scan
from tui_label.store import Store

pytestmark = pytest.mark.e2e

SIZE = (80, 24)
CAPTION = re.compile(r"[a-z]  3 0\.95  ✓")  # key, suggestion and its probability, the mark


def digits_with_a_run(db: Path) -> None:
    """The digits, none labeled, and a finished run that says 3 (p 0.95) for each."""
    store = Store(db)
    store.set_classes(resolve_classes(load_config_classes(SAMPLE_DATA / "tui-label.toml")))
    store.sync_images(scan(SAMPLE_DATA))
    three = [0.95 if n == 3 else 0.05 / 9 for n in range(10)]
    save_run(store, {path: three for path in store.image_ids()})
    store.close()


@pytest.fixture
def grid_in_tmux(tmp_path: Path):
    started: list[tuple[TmuxServer, TmuxClient]] = []

    def start(db: Path) -> tuple[TmuxServer, TmuxClient]:
        command = (f"XDG_DATA_HOME={shlex.quote(str(tmp_path / 'xdg'))} "
                   f"{shlex.quote(tui_label_script())} label {shlex.quote(str(SAMPLE_DATA))} "
                   f"--db {shlex.quote(str(db))} --grid --live-head 0")
        server = TmuxServer(tmp_path, "set -g status off\n", command, size=SIZE)
        outer = TmuxClient(server, "xterm-256color", size=SIZE)
        started.append((server, outer))
        server.release()
        return server, outer

    yield start
    for server, outer in started:
        outer.close()
        server.kill()


def captions(screen: str) -> list[str]:
    return CAPTION.findall(screen)


def wait_page(server: TmuxServer, number: int, timeout: float = 60.0) -> str:
    """Until page ``number``'s header, its 12 captions and half blocks are on screen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = server.screen()
        if f"page {number} " in screen and len(captions(screen)) == 12 and "▀" in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"page {number} never drawn; screen was:\n{server.screen()}")


def grid_labels(db: Path) -> dict[str, str]:
    store = Store(db)
    try:
        return {r["path"]: r["class"] for r in store.current_labels()}
    finally:
        store.close()


def test_a_grid_page_in_tmux_is_drawn_in_half_blocks_and_labeled_with_enter(tmp_path: Path,
                                                                           grid_in_tmux):
    db = tmp_path / "labels.db"
    digits_with_a_run(db)
    server, outer = grid_in_tmux(db)
    screen = wait_page(server, 1)
    lines = screen.splitlines()
    assert len(lines) <= SIZE[1] and max(map(len, lines)) <= SIZE[0]
    assert "as 3" in screen  # the header says what enter labels the page as
    assert HALF in outer.output()  # half blocks reached the terminal outside tmux
    time.sleep(0.3)
    server.tmux("send-keys", "-t", "t", "Enter")
    wait_page(server, 2)
    labels = grid_labels(db)
    assert len(labels) == 12 and set(labels.values()) == {"3"}
    server.tmux("send-keys", "-t", "t", "Escape")
    server.wait_screen("labeled 12")  # back in the labeler, which counts them
    server.tmux("send-keys", "-t", "t", "q")
    assert "EXITED 0" in server.wait_screen("EXITED")

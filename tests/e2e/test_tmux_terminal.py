"""The real ``tui-label`` in a real tmux 3.3, logged in as over ssh (no COLORTERM), with a tmux
client in a pty whose terminal this test plays (issue 17, items 1 and 2):

* 24-bit colour reaches the terminal outside tmux when tmux gives that terminal the RGB
  feature, and ``doctor`` says whether it does and what to set when it does not tell;
* the start-up probe leaves tmux's pane title (its status bar shows it) as it was.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.helpers.pty_app import HALF, make_photos
from tests.helpers.tmux_client import TmuxClient, TmuxServer, tui_label_script

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not shutil.which("tmux"), reason="tmux is not installed")]

# tmux 3.3's defaults, but for the pane's TERM: screen-256color (rich gives it 256 colours)
BASE_CONF = "set -g default-terminal screen-256color\nset -g allow-passthrough off\n"
RGB = "set -as terminal-features ',xterm-256color:RGB'\n"
TRUECOLOR_SGR = re.compile(rb"\x1b\[(?:[0-9;:]*;)?[34]8[;:]2[;:]")


@pytest.fixture
def servers():
    started: list[tuple[TmuxServer, list[TmuxClient]]] = []

    def start(tmp: Path, conf: str, command: str) -> TmuxServer:
        server = TmuxServer(tmp, conf, command)
        started.append((server, []))
        return server

    def attach(server: TmuxServer, term: str = "xterm-256color") -> TmuxClient:
        client = TmuxClient(server, term)
        next(c for s, c in started if s is server).append(client)
        return client

    yield start, attach
    for server, clients in started:
        for client in clients:
            client.close()
        server.kill()


def labeler(tmp: Path) -> str:
    photos = tmp / "photos"
    make_photos(photos, [(900, 600), (600, 900)])
    return (f"{tui_label_script()} label {photos} --classes a,b --db {tmp / 'l.db'} "
            "--no-suggestions --live-head 0")


def test_half_blocks_reach_an_rgb_terminal_in_24_bit_colour(tmp_path: Path, servers):
    start, attach = servers
    server = start(tmp_path, BASE_CONF + "set -g status off\n" + RGB, labeler(tmp_path))
    client = attach(server)
    server.release()
    assert client.wait_for(lambda d: d.count(HALF) > 200), client.output()[-800:]
    server.tmux("send-keys", "-t", "t", "q")
    server.wait_screen("Labels saved")
    out = client.output()
    # tmux turns colours into what it knows the terminal takes: 24-bit codes on the wire mean
    # the labeler drew in 24-bit colour (before: only 38;5;N, the 256-colour palette)
    assert len(TRUECOLOR_SGR.findall(out)) > 100, set(re.findall(rb"\x1b\[[0-9;]*m", out))


TMUX_HINT = "set -as terminal-features ',*:RGB'"


@pytest.mark.parametrize("conf, attached, said, hints", [
    (RGB, True, "24-bit colour: yes (inside tmux, and tmux gives the terminal outside it the "
                "RGB feature", []),
    ("", True, "24-bit colour: no (inside tmux, and tmux does not give the terminal outside it "
               "the RGB feature", [TMUX_HINT]),
    (RGB, False, "24-bit colour: cannot tell (inside tmux, and tmux does not tell",
     ["COLORTERM=truecolor", TMUX_HINT]),
])
def test_doctor_in_tmux_says_whether_24_bit_colour_is_used_and_what_to_set(
        tmp_path: Path, servers, conf: str, attached: bool, said: str, hints: list[str]):
    start, attach = servers
    server = start(tmp_path, BASE_CONF + "set -g status off\n" + conf,
                   f"{tui_label_script()} doctor")
    if attached:
        attach(server)
    server.release()
    screen = server.wait_screen("EXITED 0", 30)
    assert said in screen, screen
    assert ("to get 24-bit colour: " in screen) == bool(hints), screen
    for hint in hints:
        assert hint in screen, screen


@pytest.mark.parametrize("what", ["label", "doctor"])
def test_the_start_up_probe_leaves_the_pane_title_as_it_was(tmp_path: Path, servers,
                                                            what: str):
    start, attach = servers
    command = labeler(tmp_path) if what == "label" else f"{tui_label_script()} doctor"
    server = start(tmp_path, BASE_CONF, command)  # the default status bar shows the title
    attach(server)
    before = server.pane_title()
    assert before and "Gi=" not in before
    server.release()
    if what == "label":
        server.wait_screen(HALF.decode())
        assert server.pane_title() == before  # while it runs
        server.tmux("send-keys", "-t", "t", "q")
    server.wait_screen("EXITED 0")
    assert server.pane_title() == before  # after it quit

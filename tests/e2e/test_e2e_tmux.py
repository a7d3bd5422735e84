"""End to end: the real ``tui-label`` command in a real terminal (tmux), driven by keys."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers.data import make_images
from tui_label.store import Store

pytestmark = pytest.mark.e2e


def tui_label_command() -> str:
    """The console script installed beside this Python (what a user runs)."""
    script = Path(sys.executable).parent / "tui-label"
    assert script.exists(), f"tui-label is not installed in {script.parent}"
    return str(script)


class Tmux:
    def __init__(self, command: str, width: int = 120, height: int = 36) -> None:
        assert shutil.which("tmux"), "tmux is required for the end-to-end tests"
        self.height = height
        self.socket = f"tui-label-test-{uuid.uuid4().hex[:8]}"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                   f"{command}; echo EXITED $?; sleep 30")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=True).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; screen was:\n{self.screen()}")

    def image_drawn(self) -> bool:
        """Whether an image is drawn: half blocks, or (a flat image is coloured spaces) a
        second background colour across the middle row of the image area, which the image,
        centred there, always crosses."""
        if "▀" in self.screen():
            return True
        rows = self._tmux("capture-pane", "-p", "-e", "-t", "t").splitlines()
        middle = rows[(self.height - 5) // 2] if len(rows) > (self.height - 5) // 2 else ""
        return len(set(re.findall(r"\x1b\[(?:[0-9;]*;)?48;[0-9;]+m", middle))) >= 2

    def wait_image(self, position: str, timeout: float = 30.0) -> str:
        """Wait until ``position`` shows and the image is drawn (keys before that are ignored:
        the labeler never labels an image that is not on screen yet)."""
        self.wait_for(position)
        deadline = time.monotonic() + timeout
        while not self.image_drawn():
            if time.monotonic() > deadline:
                raise AssertionError(f"no image drawn; screen was:\n{self.screen()}")
            time.sleep(0.1)
        time.sleep(0.3)
        return self.screen()

    def wait_gone(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text not in self.screen():
                return
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never went away")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux_factory():
    sessions: list[Tmux] = []

    def make(command: str) -> Tmux:
        session = Tmux(command)
        sessions.append(session)
        return session

    yield make
    for s in sessions:
        s.kill()


def labeler(data: Path, db: Path, *extra: str) -> str:
    """The labeler's command line. These tests walk the images in path order: ``--order
    unlabeled`` unless they name an order (the default before any run, typical first, ranks
    by pixels in the background a moment after the start: tests/tui/test_cold_start.py)."""
    env = f"XDG_DATA_HOME={shlex.quote(str(db.parent / 'xdg'))}"
    if "--order" not in extra:
        extra = (*extra, "--order", "unlabeled")
    args = " ".join(shlex.quote(a) for a in extra)
    return (f"{env} {shlex.quote(tui_label_command())} label {shlex.quote(str(data))} "
            f"--db {shlex.quote(str(db))} {args}")


def test_label_a_few_images_in_tmux(tmp_path: Path, tmux_factory):
    data = tmp_path / "data"
    make_images(data, 6, size=(64, 48))
    db = tmp_path / "labels.db"
    term = tmux_factory(labeler(data, db, "--classes", "cat,dog", "--renderer", "halfcell"))
    term.wait_image("1/6")
    term.keys("1")
    term.wait_for("2/6")
    term.keys("2")
    term.wait_for("3/6")
    term.keys("Space")
    term.wait_for("4/6")
    term.keys("1")
    term.wait_for("5/6")
    term.keys("u")  # undo the last label: back to image 4
    screen = term.wait_for("4/6")
    assert "labeled 2" in screen and "skipped 1" in screen
    term.keys("?")
    term.wait_for("Undo the last label")
    term.keys("?")  # any key closes the help
    term.wait_gone("Undo the last label")
    term.keys("q")
    screen = term.wait_for("EXITED 0")
    assert f"Labels saved in {db}" in screen.replace("\n", "")
    store = Store(db)
    labels = {r["path"]: (r["action"], r["class"]) for r in store.current_labels()}
    store.close()
    assert labels == {
        "img000.png": ("label", "cat"),
        "img001.png": ("label", "dog"),
        "img002.png": ("skip", None),
    }


def test_multi_label_sets_in_tmux(tmp_path: Path, tmux_factory):
    data = tmp_path / "data"
    make_images(data, 4, size=(64, 48))
    db = tmp_path / "labels.db"
    term = tmux_factory(labeler(data, db, "--classes", "cat,dog,bird", "--renderer",
                                "halfcell", "--multi-label"))
    term.wait_image("1/4")
    term.keys("1")
    term.wait_for("toggled: cat (⏎ saves)")
    term.keys("3")
    term.wait_for("toggled: cat, bird (⏎ saves)")
    term.keys("Enter")
    term.wait_image("2/4")
    term.keys("Enter")  # nothing toggled: none of the classes
    term.wait_image("3/4")
    term.keys("2", "Enter")
    term.wait_image("4/4")
    term.keys("u")  # undo the last set: back to image 3, its toggles gone
    screen = term.wait_for("3/4")
    assert "labeled 2" in screen
    term.keys("q")
    term.wait_for("EXITED 0")
    store = Store(db)
    labels = {r["path"]: (r["action"], r["class"]) for r in store.current_labels()}
    assert store.multi_label
    store.close()
    assert labels == {"img000.png": ("label", "cat;bird"), "img001.png": ("label", None)}


def test_dropped_connection_keeps_every_label(tmp_path: Path, tmux_factory):
    """Killing the terminal (what an SSH drop does) loses no label that was shown as saved."""
    data = tmp_path / "data"
    make_images(data, 8)
    db = tmp_path / "labels.db"
    term = tmux_factory(labeler(data, db, "--classes", "cat,dog"))
    term.wait_image("1/8")
    for i, key in enumerate("12121"):
        term.keys(key)
        term.wait_for(f"{i + 2}/8")
    term.kill()  # SIGHUP to the app, like a dropped SSH link
    time.sleep(0.5)
    store = Store(db)
    assert store.counts().labeled == 5
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


def test_reopen_continues_with_unlabeled_images(tmp_path: Path, tmux_factory):
    data = tmp_path / "data"
    make_images(data, 5)
    db = tmp_path / "labels.db"
    (data / "tui-label.toml").write_text('classes = ["cat", "dog"]\n')
    term = tmux_factory(labeler(data, db))
    term.wait_image("1/5")
    term.keys("1")
    term.wait_for("2/5")
    term.keys("q")
    term.wait_for("EXITED 0")
    term.kill()
    make_images(data / "more", 1)  # a new file appears between sessions
    term = tmux_factory(labeler(data, db))
    screen = term.wait_for("img001.png")  # unlabeled first: the labeled image comes last
    assert "1/5" in screen or "1/6" in screen
    term.wait_for("/6")  # the background rescan found the new file
    term.keys("q")
    term.wait_for("EXITED 0")


def test_usage_error_in_a_terminal_is_one_line(tmp_path: Path, tmux_factory):
    term = tmux_factory(f"{shlex.quote(tui_label_command())} label {tmp_path / 'nope'} "
                        "--classes a,b")
    screen = term.wait_for("EXITED 2")
    assert "tui-label: error: folder not found" in screen
    assert "Traceback" not in screen


def test_demo_opens_on_sample_data(tmp_path: Path, tmux_factory):
    env = f"XDG_DATA_HOME={shlex.quote(str(tmp_path / 'xdg'))}"
    term = tmux_factory(f"{env} {shlex.quote(tui_label_command())} demo --renderer halfcell")
    screen = term.wait_image("1/500")
    assert "[7] 7" in screen
    term.keys("7")
    term.wait_for("2/500")
    term.keys("q")
    term.wait_for("EXITED 0")
    store = Store(tmp_path / "xdg" / "tui-label" / "demo.db")
    assert store.counts().labeled == 1
    store.close()


@pytest.mark.torch  # the run it starts imports torch
def test_label_train_see_a_suggestion_and_accept_it(tmp_path: Path, tmux_factory):
    """The model in the loop, as a person walks it: label a few images, start a run (T), see
    the model's suggestion under the next image when its predictions land, accept it (a)."""
    import re

    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    for i in range(16):  # dark and light images, alternating in path order
        # (not darker: in tmux's 256 colours, 20 is the screen's own background, and a flat
        # image is drawn as spaces on its colour, so it could not be seen to be drawn)
        shade = 50 + i if i % 2 == 0 else 235 - i
        Image.new("RGB", (32, 32), (shade, shade, shade)).save(data / f"img{i:02d}.png")
    db = tmp_path / "labels.db"
    term = tmux_factory(labeler(data, db, "--classes", "dark,light", "--renderer", "halfcell"))
    term.wait_image("1/16")
    for i in range(8):
        term.keys("1" if i % 2 == 0 else "2")
        term.wait_image(f"{i + 2}/16")
    assert "suggest" not in term.screen()  # no model yet: no suggestions line
    term.keys("T")  # start a run with the panel's settings
    screen = term.wait_for("suggest", timeout=240)  # its predictions landed
    match = re.search(r"suggest\s+(dark|light) (\d+)%", screen)
    assert match, screen
    suggested = match.group(1)
    assert "9/16" in screen
    term.keys("a")
    term.wait_for("10/16")
    term.keys("q")
    term.wait_for("EXITED 0")
    store = Store(db)
    rows = store.conn.execute(
        "SELECT i.path, c.name, e.source, e.probability, e.run_id FROM label_events e "
        "JOIN images i ON i.id = e.image_id JOIN classes c ON c.id = e.class_id "
        "ORDER BY e.id").fetchall()
    run = store.latest_predicted_run()
    store.close()
    assert len(rows) == 9 and all(r[2] is None for r in rows[:8])
    path, name, source, probability, run_id = rows[8]
    assert (path, name, source, run_id) == ("img08.png", suggested, "suggestion", run["id"])
    assert round(probability * 100) == int(match.group(2))


def test_two_labelers_in_two_panes_split_the_work(tmp_path: Path, tmux_factory):
    """A team on one database (issue 9): two labelers at once, each in its own terminal, with
    a fifth of the images meant for both. Outside that share no image gets two labels, and
    every label shown as saved is in the database."""
    import re

    from tui_label.core.hashing import in_overlap

    data = tmp_path / "data"
    make_images(data, 40, size=(32, 24))
    db = tmp_path / "labels.db"
    (data / "tui-label.toml").write_text('classes = ["cat", "dog"]\n')
    alice = tmux_factory(labeler(data, db, "--annotator", "alice", "--overlap", "0.2",
                                 "--renderer", "halfcell"))
    alice.wait_image("1/")
    bob = tmux_factory(labeler(data, db, "--annotator", "bob", "--renderer", "halfcell"))
    bob.wait_image("1/")  # the stored share (0.2) holds for bob too
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        alice.keys("1")
        bob.keys("2")
        time.sleep(0.12)
    for term in (alice, bob):
        term.keys("q")
    exits = [term.wait_for("EXITED 0").replace("\n", "") for term in (alice, bob)]
    store = Store(db)
    rows = store.conn.execute(
        "SELECT i.path, e.annotator, e.action FROM label_events e "
        "JOIN images i ON i.id = e.image_id").fetchall()
    labeled = store.counts().labeled
    store.close()
    by_image: dict[str, list[str]] = {}
    for path, annotator, action in rows:
        assert action == "label"
        by_image.setdefault(path, []).append(annotator)
    assert {"alice", "bob"} <= {a for names in by_image.values() for a in names}
    for path, names in by_image.items():
        assert len(names) == len(set(names)), (path, names)  # nobody labeled one twice
        if not in_overlap(path, 0.2):
            assert len(names) == 1, (path, names)  # done once outside the share
    assert labeled == len(by_image)  # every labeled image still is
    totals = [int(m.group(1)) for m in (re.search(r"\((\d+) labeled", e) for e in exits) if m]
    assert totals and max(totals) == labeled  # the last to quit saw every label saved


def test_digit_classes_are_on_their_own_keys_in_tmux(tmp_path: Path, tmux_factory):
    """``--classes 0,1,...,9``: the key 0 labels class "0" and 7 labels "7" (0 was on key 1)."""
    data = tmp_path / "data"
    make_images(data, 3, size=(64, 48))
    db = tmp_path / "labels.db"
    digits = ",".join(str(d) for d in range(10))
    term = tmux_factory(labeler(data, db, "--classes", digits, "--renderer", "halfcell"))
    screen = term.wait_image("1/3")
    assert "[0] 0 (0)" in screen and "[7] 7 (0)" in screen  # the legend says so
    term.keys("0")
    term.wait_image("2/3")
    term.keys("7")
    term.wait_for("3/3")
    term.keys("q")
    term.wait_for("EXITED 0")
    store = Store(db)
    labels = {r["path"]: r["class"] for r in store.current_labels()}
    store.close()
    assert labels == {"img000.png": "0", "img001.png": "7"}

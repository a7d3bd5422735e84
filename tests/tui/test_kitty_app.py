"""Kitty graphics in the real labeler, in a pty with this test as the terminal: images are
uploaded before the key that shows them, the key writes only a placement, the terminal's
replies never become key presses, and a terminal that never answers does not hang it."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.helpers.kitty_fake import FakeKitty
from tests.helpers.pty_app import PtyApp, make_photos
from tui_label.terminal.kitty import parse_commands

UPLOADS = re.compile(rb"\x1b_Ga=[tf],")


def start(tmp_path: Path, terminal: str = "kitty", count: int = 6) -> PtyApp:
    photos = tmp_path / "photos"
    make_photos(photos, [(900, 600), (600, 900), (800, 600)] * (count // 3 + 1))
    return PtyApp(["label", str(photos), "--classes", "a,b", "--db", str(tmp_path / "l.db"),
                   "--renderer", "kitty", "--no-suggestions", "--live-head", "0"],
                  size=(100, 30), terminal=terminal)


def placements(data: bytes) -> list[tuple[int, int]]:
    return [(end, c.image_id) for end, c in parse_commands(data) if c.action == "p"]


def wait_settled(app: PtyApp, quiet: float = 1.5, timeout: float = 60.0) -> bool:
    """Until no upload has been written for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(UPLOADS.findall(app.output()))
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since > quiet:
            return True
        time.sleep(0.1)
    return False


def test_a_key_places_an_image_uploaded_before_it(tmp_path: Path):
    app = start(tmp_path)
    try:
        assert app.wait_for(lambda d: placements(d), 60), "no image placed"
        assert wait_settled(app)
        before = app.output()
        term = FakeKitty()
        term.feed(before)
        shown_before = {i for _, i in placements(before)}
        app.write(b"1")
        assert app.wait_for(lambda d: any(i not in shown_before
                                          for _, i in placements(d[len(before):])), 30)
        time.sleep(0.3)
        after = app.output()[len(before):]
    finally:
        app.close()
    commands = parse_commands(after)
    new = [(end, c) for end, c in commands if c.action == "p" and c.image_id not in shown_before]
    end_of_placement = new[-1][0] if len(new) == 1 else max(
        end for end, c in new if end <= new[0][0] + 400)
    up_to = [c for end, c in commands if end <= end_of_placement]
    # after the key, up to the new image's placement: only placements and deletions
    assert {c.action for c in up_to} <= {"p", "d"}, [c.keys for c in up_to]
    for _, c in new:
        assert term.images[c.image_id].complete, "placed before its upload was complete"
    assert end_of_placement <= 2000  # the key's bytes: a frame and the placement
    # the old image's placement was removed
    assert any(c.action == "d" and c.image_id in shown_before for c in up_to)


def test_terminal_replies_never_become_key_presses(tmp_path: Path):
    app = start(tmp_path, count=3)
    try:
        assert app.wait_for(lambda d: placements(d), 60)
        # "1" is the hotkey of class a: had any of these leaked as keys, a label would be made
        app.write(b"\x1b_Gi=1;OK\x1b\\\x1b_Gi=21;ENOENT:no such image\x1b\\\x1b[?62;1;22c")
        app.write(b"\x1b_Gi=1")
        time.sleep(0.05)
        app.write(b"1;OK\x1b\\")  # a reply cut in two reads
        time.sleep(1.5)
    finally:
        code = app.close()
    assert code == 0
    assert b"(0 labeled" in app.output()


def test_a_terminal_that_never_answers_still_shows_images(tmp_path: Path):
    app = start(tmp_path, terminal="silent", count=3)
    try:
        assert app.wait_for(lambda d: placements(d), 60), "no image placed"
        first = {i for _, i in placements(app.output())}
        app.write(b"1")
        assert app.wait_for(lambda d: {i for _, i in placements(d)} - first, 30)
    finally:
        code = app.close()
    assert code == 0
    assert b"(1 labeled" in app.output()
    term = FakeKitty()
    term.feed(app.output())  # every placement refers to an image it had received


def test_going_back_places_the_image_still_held_by_the_terminal(tmp_path: Path):
    app = start(tmp_path, count=4)
    try:
        assert app.wait_for(lambda d: placements(d), 60)
        assert wait_settled(app)
        first = {i for _, i in placements(app.output())}
        app.write(b" ")  # skip: the next image
        assert app.wait_for(lambda d: {i for _, i in placements(d)} - first, 30)
        assert wait_settled(app)
        mark = len(app.output())
        app.write(b"\x1b[D")  # left: back to the first image
        assert app.wait_for(lambda d: {i for _, i in placements(d[mark:])} & first, 30)
        time.sleep(0.3)
        after = app.output()[mark:]
    finally:
        assert app.close() == 0
    uploads = {c.image_id for _, c in parse_commands(after) if c.action in "tf"}
    assert not uploads & first  # placed again, not sent again


async def test_a_message_in_the_image_s_place_removes_its_placement():
    from textual.app import App

    from tests.helpers.photos import photo
    from tui_label.terminal import kitty
    from tui_label.tui.widgets.kitty_picture import KittyPicture

    class One(App):
        def compose(self):
            yield KittyPicture(id="p")

    app = One()
    async with app.run_test(size=(80, 24)) as pilot:
        picture = app.query_one(KittyPicture)
        written: list[bytes] = []
        picture.uploader.write = written.append
        picture.cells = (40, 12)
        prepared = kitty.prepare(photo(400, 240))
        picture.show(photo(400, 240), prepared)
        await pilot.pause()
        placed = [c for _, c in parse_commands(b"".join(written)) if c.action == "p"]
        assert [c.image_id for c in placed] == [prepared.low.image_id]
        assert placed[0].keys["c"] == "40" and placed[0].keys["r"] == "12"
        picture.display = False  # what ImageView.show_message does
        await pilot.pause()
        deleted = [c for _, c in parse_commands(b"".join(written)) if c.action == "d"]
        assert [c.image_id for c in deleted] == [prepared.low.image_id]


async def test_a_layer_ready_for_a_picture_out_of_the_layout_is_not_placed():
    """A grid cell hidden on a short last page keeps its picture's display on, but the cell is
    out of the layout: a full layer finishing for it then (on the uploader's thread) must not
    crash the app (Textual's find_widget raised NoWidget) nor place anything, and hiding the
    cell deletes the placement it had."""
    from textual.app import App
    from textual.containers import Vertical

    from tests.helpers.photos import photo
    from tui_label.terminal import kitty
    from tui_label.tui.widgets.kitty_picture import KittyPicture

    class Cell(App):
        def compose(self):
            with Vertical(id="cell"):
                yield KittyPicture(id="p")

    app = Cell()
    async with app.run_test(size=(80, 24)) as pilot:
        picture = app.query_one(KittyPicture)
        written: list[bytes] = []
        picture.uploader.write = written.append
        picture.cells = (40, 12)
        picture.show(photo(400, 240), kitty.prepare(photo(400, 240)))
        await pilot.pause()
        placed = {c.image_id for _, c in parse_commands(b"".join(written)) if c.action == "p"}
        assert placed
        written.clear()
        app.query_one("#cell").display = False
        await pilot.pause()
        # the hidden cell's image is taken off the terminal (kitty would keep drawing it)
        assert {c.image_id for _, c in parse_commands(b"".join(written))
                if c.action == "d"} == placed
        written.clear()
        picture.post_message(KittyPicture.LayerStarted())
        await pilot.pause()
        await pilot.pause()
        assert app.is_running and app.return_code is None
        assert [c for _, c in parse_commands(b"".join(written)) if c.action == "p"] == []


def test_the_grid_uploads_every_cell_whole_and_the_next_page_before_its_key(tmp_path: Path):
    """Kitty graphics in the grid (one uploader for every cell): each cell's full layer goes
    up, not only the low one of all but the last, and the next page's thumbnails are uploaded
    while this page is reviewed, so ``]`` writes placements of images already complete."""
    from tests.helpers.fake_model import save_run
    from tui_label.config.settings import ClassSpec
    from tui_label.media.scan import scan
    from tui_label.store import Store

    photos = tmp_path / "photos"
    make_photos(photos, [(600, 400), (400, 600), (500, 500)] * 10)
    db = tmp_path / "l.db"
    store = Store(db)
    store.set_classes([ClassSpec("a", "1"), ClassSpec("b", "2")])
    store.sync_images(scan(photos))
    store.set_setting("root", str(photos.resolve()))
    save_run(store, {path: [0.95, 0.05] for path in store.image_ids()})
    store.close()
    app = PtyApp(["label", str(photos), "--db", str(db), "--renderer", "kitty", "--grid",
                  "--live-head", "0"], size=(100, 30), terminal="kitty")
    try:
        assert app.wait_for(lambda d: len({i for _, i in placements(d)}) >= 8, 60), \
            "no grid page placed"
        assert wait_settled(app)
        before = app.output()
        term = FakeKitty()
        term.feed(before)
        placed = [c for _, c in parse_commands(before) if c.action == "p"]
        on_screen = set(term.placements)
        assert len(on_screen) >= 8
        # every cell shows its full layer (the odd id of a pair is the low one, the next the
        # full one: kitty.new_ids), complete
        assert all(i % 2 == 0 for i in on_screen), sorted(on_screen)
        assert all(term.images[i].complete for i in on_screen)
        # complete and never placed: the next page's (and the labeler's own next images)
        ahead = {i for i, s in term.images.items()
                 if s.complete and i not in {c.image_id for c in placed}}
        app.write(b"]")
        assert app.wait_for(lambda d: any(c.action == "p" and c.image_id in ahead
                                          for _, c in parse_commands(d[len(before):])), 30)
        time.sleep(0.5)
        after = app.output()[len(before):]
    finally:
        app.close()
    new = {c.image_id for _, c in parse_commands(after)
           if c.action == "p" and c.image_id not in on_screen}
    assert len(new) == 30 - len(on_screen)  # the last page: the images left
    assert new <= ahead  # each one uploaded whole before the key: placements only

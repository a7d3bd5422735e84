"""Pilot tests: press keys in the real app (headless) and check the database."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.helpers.app import HOSTILE, labels_by_path, make_app, wait_shown
from tests.helpers.queue import queue_of
from tui_label.core.orders import OrderChoice
from tui_label.core.types import ImageState
from tui_label.media.decode import Decoded, Prefetcher, decode_for_display
from tui_label.store import Store
from tui_label.tui.app import LabelApp
from tui_label.tui.screens.help import HelpScreen
from tui_label.tui.screens.label import LabelScreen
from tui_label.tui.widgets.image_view import ImageView, load_renderer

SIZE = (100, 32)








async def test_class_keys_label_and_advance(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        for i, key in enumerate("1231"):
            await wait_shown(pilot, screen, i)
            await pilot.press(key)
        await wait_shown(pilot, screen, 4)
    assert labels_by_path(store) == {
        "img000.png": "cat", "img001.png": "dog", "img002.png": "bird", "img003.png": "cat",
    }
    ms = [r[0] for r in store.conn.execute("SELECT ms_on_screen FROM label_events")]
    assert all(m is not None and m >= 0 for m in ms)


async def test_skip_back_forward_and_undo(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("space")  # skip 0
        await wait_shown(pilot, screen, 1)
        await pilot.press("2")  # label 1 as dog
        await wait_shown(pilot, screen, 2)
        await pilot.press("left")
        await wait_shown(pilot, screen, 1)
        await pilot.press("h")
        await wait_shown(pilot, screen, 0)
        await pilot.press("l", "right")
        await wait_shown(pilot, screen, 2)
        await pilot.press("u")  # undo the dog label: back on image 1
        await wait_shown(pilot, screen, 1)
        assert labels_by_path(store) == {"img000.png": None}
        assert store.current(screen.session.queue[1].id) == ImageState()
        await pilot.press("ctrl+z")  # undo the skip: back on image 0
        await wait_shown(pilot, screen, 0)
        assert labels_by_path(store) == {}
        assert screen.session.counts.skipped == 0 and screen.session.counts.labeled == 0
    events = store.conn.execute("SELECT action, undo_of IS NOT NULL FROM label_events ORDER BY id")
    assert [tuple(e) for e in events] == [
        ("skip", 0), ("label", 0), ("clear", 1), ("clear", 1),
    ]


async def test_relabeling_keeps_counts_right(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
        await pilot.press("left")
        await wait_shown(pilot, screen, 0)
        await pilot.press("2")
        await wait_shown(pilot, screen, 1)
        assert screen.session.counts.labeled == 1
        assert screen.session.counts == store.counts()


def record_writes(store: Store) -> list[tuple[int, float]]:
    """Log ``(image_id, perf_counter())`` of every label or skip the store writes."""
    import time

    writes: list[tuple[int, float]] = []
    insert_event = store._insert_event  # every event goes through it (a key's: with a claim)

    def logged(image_id, action, class_id=None, **kw):
        event_id = insert_event(image_id, action, class_id, **kw)
        writes.append((image_id, time.perf_counter()))
        return event_id

    store._insert_event = logged
    return writes


class GatedLoader:
    """A decoder that waits for the test to release each image: renders on demand."""

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def gate(self, name: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(name, threading.Event())

    def __call__(self, path: Path, geometry) -> Decoded:
        self.gate(path.name).wait(10)
        return decode_for_display(path, geometry)


async def test_keys_faster_than_rendering_label_only_what_was_on_screen(
    store: Store, dataset: Path
):
    loader = GatedLoader()
    writes = record_writes(store)
    app = make_app(store, dataset, prefetcher=Prefetcher(loader=loader))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await pilot.pause(0.05)
        await pilot.press("1")  # image 0 not rendered yet: nothing to label
        assert store.current_labels() == []
        loader.gate("img000.png").set()
        await wait_shown(pilot, screen, 0)
        # Three quick keys while image 1 is still decoding: only image 0 gets a label.
        await pilot.press("2", "3", "1")
        assert labels_by_path(store) == {"img000.png": "dog"}
        assert screen.session.pos == 1 and screen.stage.shown_id is None
        loader.gate("img001.png").set()
        await wait_shown(pilot, screen, 1)
        await pilot.press("3")
        assert labels_by_path(store) == {"img000.png": "dog", "img001.png": "bird"}
        for name in list(loader.gates) + [f"img{i:03d}.png" for i in range(12)]:
            loader.gate(name).set()
    # Each label went to the image most recently painted when it was written, and that
    # paint came before the write.
    assert [w[0] for w in writes] == [queue_of(store, "all")[0].id, queue_of(store, "all")[1].id]
    for image_id, written_at in writes:
        before = [p for p in screen.stage.painted if p.painted_time < written_at]
        assert before and before[-1].image_id == image_id


async def test_burst_of_keys_with_prefetch_labels_consecutive_images(
    store: Store, dataset: Path
):
    """Keys sent back to back: each either labels the image on screen with its own class, or,
    arriving before the next image is drawn, is refused with a bell. Never anything else."""
    outcomes: list[str] = []
    writes = record_writes(store)
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        bell = app.bell
        app.bell = lambda: (outcomes.append("refused"), bell())
        label = screen.action_label

        def counted(class_id: int) -> None:
            n = len(writes)
            label(class_id)
            if len(writes) > n:
                outcomes.append(screen.session.class_names[class_id])

        screen.action_label = counted  # keys find actions by name: this one is called
        await wait_shown(pilot, screen, 0)
        await pilot.pause(0.3)  # let the prefetch of the next images finish
        await pilot.press("1", "2", "3", "1")
        await pilot.pause(0.1)
    keys = ["cat", "dog", "bird", "cat"]
    assert len(outcomes) == 4
    assert outcomes[0] == "cat"  # the first key always finds its image drawn
    assert all(o in ("refused", k) for o, k in zip(outcomes, keys, strict=True))
    labeled = labels_by_path(store)
    # The labels went to consecutive images in queue order, one key each.
    assert list(labeled) == [f"img{i:03d}.png" for i in range(len(labeled))]
    assert list(labeled.values()) == [o for o in outcomes if o != "refused"]


async def test_unreadable_image_shows_reason_and_session_goes_on(tmp_path: Path, dataset: Path):
    (dataset / "aaa_broken.png").write_bytes(b"this is not a png")
    from tui_label.config.settings import ClassSpec
    from tui_label.media.scan import scan

    store = Store(tmp_path / "x.db")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2")])
    store.sync_images(scan(dataset))
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        message = str(app.screen.query_one("#message").render())
        assert "cannot show aaa_broken.png" in message
        assert "not an image" in message
        await pilot.press("space")
        await wait_shown(pilot, screen, 1)
        await pilot.press("1")
        await wait_shown(pilot, screen, 2)
    row = store.conn.execute("SELECT status, reason FROM images WHERE path = 'aaa_broken.png'")
    assert row.fetchone() == ("unreadable", "not an image Pillow can read")
    assert labels_by_path(store) == {"aaa_broken.png": None, "img000.png": "cat"}


async def test_help_lists_every_binding(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        for word in ("cat", "dog", "bird", "Skip", "Undo", "Previous", "Next", "Quit", "Help"):
            assert word in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LabelScreen)


async def test_order_picker_switches_to_skipped(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("space")
        await wait_shown(pilot, screen, 1)
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # "Skipped only"
        await pilot.pause()
        assert screen.session.order == OrderChoice("skipped")
        assert [i.path for i in screen.session.queue] == ["img000.png"]


async def test_status_line_shows_position_counts_and_label(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=(120, 32)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("2")
        await wait_shown(pilot, screen, 1)
        await pilot.press("left")
        await wait_shown(pilot, screen, 0)
        status = app.screen.query_one("#counts").render()
        line = app.screen.query_one("#image-line").render()
        legend = app.screen.query_one("#legend").render()
    assert "1/12" in str(status) and "labeled 1" in str(status) and "remaining 11" in str(status)
    assert "/min" in str(status)
    assert "img000.png" in str(line) and "dog" in str(line)
    assert "[2] dog (1)" in str(legend)


async def test_image_fills_the_area_with_aspect_kept(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.pause()
        view = app.screen.query_one(ImageView)
        picture = app.screen.query_one("#picture")
        area = view.content_size
        # 32x24 image, cells are 1:2, so the picture is limited by the height.
        assert picture.size.height == area.height
        assert abs(picture.size.width / picture.size.height - (32 / 24) * 2) < 0.1


@pytest.mark.parametrize("renderer", ["halfcell", "unicode", "sixel", "kitty", "auto"])
async def test_every_renderer_shows_an_image(store: Store, dataset: Path, renderer: str):
    app = LabelApp(store, dataset, load_renderer(renderer), rescan=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        assert app.screen.query_one("#picture").display
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
    assert labels_by_path(store) == {"img000.png": "cat"}


# -- a failed write: the key is not acknowledged, one line says why, the app goes on ---------


def alert_text(app) -> str:
    alert = app.screen.query_one("#alert")
    return str(alert.render()) if alert.display else ""


async def test_locked_database_refuses_the_key_says_so_and_recovers(store: Store,
                                                                    dataset: Path):
    import sqlite3

    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        screen.session.lock_wait_ms = 20
        await wait_shown(pilot, screen, 0)
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            await pilot.press("2")
            await pilot.pause(0.1)
            assert screen.session.pos == 1  # not acknowledged: still on image 1
            assert alert_text(app) == ("the database is locked by another process: waiting · "
                                       "this label was not saved")
            await pilot.press("2")  # refused at once while the lock is held
            assert screen.session.pos == 1 and app.is_running
        finally:
            other.execute("ROLLBACK")
            other.close()
        for _ in range(300):  # the background wait notices the lock is gone
            if not alert_text(app):
                break
            await pilot.pause(0.01)
        assert alert_text(app) == ""
        await pilot.press("2")
        await wait_shown(pilot, screen, 2)
    assert labels_by_path(store) == {"img000.png": "cat", "img001.png": "dog"}


async def test_full_disk_refuses_the_key_and_keeps_earlier_labels(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
        fill_the_disk(store, screen.session.queue[-1].id)
        await pilot.press("2")
        await pilot.pause(0.05)
        assert screen.session.pos == 1
        assert alert_text(app) == "disk is full: this label was not saved"
        assert app.is_running
        store.conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
        await pilot.press("2")
        await wait_shown(pilot, screen, 2)
        assert alert_text(app) == ""
    labels = {k: v for k, v in labels_by_path(store).items() if v is not None}
    assert labels == {"img000.png": "cat", "img001.png": "dog"}


def fill_the_disk(store: Store, spare_image: int) -> None:
    """Cap the file at its size (SQLite then fails as on a full disk: SQLITE_FULL) and fill
    the free room in its pages with events of one spare image, until no event fits."""
    from tui_label.store import StoreWriteError

    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreWriteError, match="disk is full"):
        for _ in range(100_000):
            store.skip(spare_image)


async def test_read_only_database_refuses_keys_with_one_line(store: Store, dataset: Path):
    readonly = Store(store.path, readonly=True)
    app = make_app(readonly, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("1")
        await pilot.pause(0.05)
        assert screen.session.pos == 0
        assert "read-only: this label was not saved" in alert_text(app)
        await pilot.press("u")
        assert app.is_running
    readonly.close()
    assert store.current_labels() == []


async def test_failed_rescan_is_shown_not_lost(store: Store, dataset: Path, monkeypatch):
    import tui_label.labeling.jobs as label_module

    def broken_scan(root):
        raise PermissionError(13, "Permission denied", str(root))

    monkeypatch.setattr(label_module, "scan", broken_scan)
    app = LabelApp(store, dataset, load_renderer("halfcell"), rescan=True)
    shown: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        app.notify = lambda message, **kw: shown.append(str(message))
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        for _ in range(200):
            if shown:
                break
            await pilot.pause(0.01)
        assert app.is_running
    assert any("rescan failed" in m and "Permission denied" in m for m in shown)


async def test_changed_file_is_decoded_again_after_a_rescan(store: Store, dataset: Path):
    from PIL import Image

    app = LabelApp(store, dataset, load_renderer("halfcell"), rescan=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("right")
        await wait_shown(pilot, screen, 1)
        first = screen.session.queue[0]
        Image.new("RGB", (64, 16), (255, 0, 0)).save(dataset / first.path)  # new pixels
        screen.jobs.rescan()
        for _ in range(300):
            if store.image(first.id)["status"] == "unknown":
                break
            await pilot.pause(0.01)
        await pilot.press("left")
        await wait_shown(pilot, screen, 0)
        screen.jobs.flush_decodes()
    row = store.image(first.id)
    assert (row["status"], row["width"], row["height"]) == ("ok", 64, 16)




async def test_markup_in_class_names_and_paths_is_shown_literally(tmp_path: Path):
    """Every widget that shows a class name, path or order shows user strings as they are."""
    from PIL import Image

    from tui_label.config.settings import ClassSpec
    from tui_label.media.scan import scan
    from tui_label.tui.screens.order import OrderScreen

    root = tmp_path / "data"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(root / "[red]one.png")
    (root / "[b]broken.png").write_bytes(b"not an image")
    store = Store(tmp_path / "x.db")
    store.set_classes([ClassSpec(name, str(k + 1)) for k, name in enumerate(HOSTILE)])
    store.sync_images(scan(root))
    first_class = store.classes()[0].id
    app = make_app(store, root, order=OrderChoice("all"))
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)  # [b]broken.png: the placeholder names it
        assert "cannot show [b]broken.png" in str(app.screen.query_one("#message").render())
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
        await pilot.press("left")
        await wait_shown(pilot, screen, 0)
        legend = str(app.screen.query_one("#legend").render())
        for name in HOSTILE:
            assert name in legend
        line = str(app.screen.query_one("#image-line").render())
        assert "[b]broken.png" in line and "→ [/]" in line
        screen.set_order(OrderChoice("class", first_class))
        await wait_shown(pilot, screen, 0)
        assert "order: Labeled as [/]" in str(app.screen.query_one("#counts").render())
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OrderScreen)
        options = app.screen.query_one("OptionList")
        texts = [str(options.get_option_at_index(i).prompt).split("  ")[0]  # less its count
                 for i in range(options.option_count)]
        assert [t for t in texts if t.startswith("Labeled as")] == [
            f"Labeled as {name}" for name in HOSTILE]
        await pilot.press("escape")
        await pilot.press("question_mark")
        await pilot.pause()
        help_text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        for name in HOSTILE:
            assert name in help_text
        await pilot.press("escape")
        await pilot.press("t")  # the panel opens on hostile names too
        await pilot.pause()
        assert app.is_running


async def test_redrawing_the_same_image_keeps_keys_working(store: Store, dataset: Path):
    """A relayout (resize, the suggestions line appearing) draws the shown image again: a key
    pressed meanwhile still labels it, instead of being refused as if nothing were on screen."""
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        shown = screen.stage.shown_id
        screen.show_current()  # the same image, drawn again
        assert screen.stage.shown_id == shown
        await pilot.press("2")
        await wait_shown(pilot, screen, 1)
    assert labels_by_path(store) == {"img000.png": "dog"}


async def test_a_sixteen_colour_terminal_gets_the_terminals_own_palette(
        store: Store, dataset: Path, monkeypatch):
    """TERM=xterm (16 colours): the theme's shades fell to light grey on grey and red on grey;
    the ANSI theme uses the terminal's palette. Its colour names are no rich styles: the
    legend, which styled hotkeys with the theme's accent, crashed on "ansi_green"."""
    from rich.console import ColorSystem

    from tui_label.tui.widgets.legend import Legend

    app = make_app(store, dataset)
    monkeypatch.setattr(app.console, "_color_system", ColorSystem.STANDARD)
    assert app.console.color_system == "standard"
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        assert app.current_theme.ansi and app.theme == "tui-label-ansi"
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
        legend = str(screen.query_one(Legend).render())
        assert "[1] cat (1)" in legend
    assert labels_by_path(store) == {"img000.png": "cat"}


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_every_footer_hint_fits_on_the_line(store: Store, dataset: Path, size):
    """At 80 columns the footer cut Train, Help and Quit off: it is compact there, without
    the command palette's hint."""
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    app = make_app(store, dataset)
    async with app.run_test(size=size) as pilot:
        await wait_shown(pilot, app.label_screen, 0)
        await pilot.pause()
        footer = app.screen.query_one(Footer)
        keys = list(footer.query(FooterKey))
        shown = [k.description for k in keys if k.region.width and k.region.right <= size[0]]
        assert {"Skip", "Undo", "Train", "Help", "Quit"} <= set(shown)
        assert all(k.region.right <= size[0] for k in keys)
        assert footer.compact == (size[0] < 120)


async def test_a_long_help_line_goes_on_under_its_description(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        lines = str(app.screen.query_one("#help-keys").render()).splitlines()
        undo = next(i for i, line in enumerate(lines) if "Undo the last label" in line)
        assert lines[undo + 1].startswith(" " * 14) and lines[undo + 1].strip()
        assert "esc or ? closes" in str(app.screen.query("Static").first().render())

"""Typical first before any run (the default first order): the labeler opens at once on the
unlabeled images in path order, then ranks them by their pixels in the live head's process
and puts that ranking behind the image on screen."""

from __future__ import annotations

from pathlib import Path

from tests.assist.test_pixels import _save, _shape
from tests.helpers.app import labels_by_path, make_app, wait_shown
from tui_label.assist.pixels import typical_paths
from tui_label.config.settings import ClassSpec
from tui_label.core.orders import OrderChoice
from tui_label.core.rankings import Pixels
from tui_label.media.scan import scan
from tui_label.store import Store


def _dataset(tmp_path: Path) -> tuple[Store, Path]:
    root = tmp_path / "images"
    root.mkdir()
    for i in range(24):
        _save(root / f"s{i:02d}.png", _shape("stripes", i))
    for i in range(12):
        _save(root / f"t{i:02d}.png", _shape("disc", 100 + i))
    store = Store(tmp_path / "labels.db")
    store.set_classes([ClassSpec("stripes", "1"), ClassSpec("disc", "2")])
    store.sync_images(scan(root))
    return store, root


async def test_typical_first_ranks_by_pixels_behind_the_image_on_screen(tmp_path: Path):
    store, root = _dataset(tmp_path)
    by_path = sorted(store.image_ids())
    expected = OrderChoice("typical").rank(store.rows_for("all"),
                                           Pixels(lambda p: typical_paths(str(root), p)))
    app = make_app(store, root, order=OrderChoice("typical"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        first = screen.session.current
        assert first is not None and first.path == by_path[0]  # at once: path order
        for _ in range(1500):  # the live head's process starts, decodes, clusters
            if [it.path for it in screen.session.queue] != by_path:
                break
            await pilot.pause(0.02)
        queue = screen.session.queue
        assert screen.session.current == first and queue[0] == first  # it stays on screen
        assert [it.path for it in queue[1:]] == [it.path for it in expected
                                                  if it.path != first.path]
        assert {queue[1].path[0], queue[2].path[0], queue[3].path[0]} == {"s", "t"}
        await pilot.press("1")  # labels the image on screen, then the first typical one
        await wait_shown(pilot, screen, 1)
        assert screen.stage.shown_id == queue[1].id
        assert {p: c for p, c in labels_by_path(store).items() if c} == {first.path: "stripes"}
    store.close()


async def test_typical_first_chosen_in_the_picker_before_any_run(tmp_path: Path):
    """Chosen from the order picker (o) with no run: ranked by pixels in the background, then
    switched to from its start."""
    store, root = _dataset(tmp_path)
    app = make_app(store, root, order=OrderChoice("unlabeled"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("1")  # one labeled image: typical first leaves it out
        await wait_shown(pilot, screen, 1)
        expected = OrderChoice("typical").rank(store.rows_for("all"),
                                               Pixels(lambda p: typical_paths(str(root), p)))
        await pilot.press("o")
        await pilot.pause()
        await pilot.press(*"typical", "enter")
        for _ in range(1500):
            if screen.session.order.name == "typical":
                break
            await pilot.pause(0.02)
        assert [it.path for it in screen.session.queue] == [it.path for it in expected]
        assert len(expected) == 35 and screen.session.pos == 0
        await wait_shown(pilot, screen, 0)
        assert screen.stage.shown_id == expected[0].id
    store.close()


async def test_another_order_is_left_alone(tmp_path: Path):
    """Only typical first ranks by pixels: unlabeled first stays in path order."""
    store, root = _dataset(tmp_path)
    app = make_app(store, root, order=OrderChoice("unlabeled"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        for _ in range(100):
            await pilot.pause(0.02)
        assert [it.path for it in screen.session.queue] == sorted(store.image_ids())
        assert screen.jobs._cold_ranked is False  # noqa: SLF001
    store.close()

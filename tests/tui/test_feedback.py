"""Feedback a user sees without a bell (tmux mutes bells): a refused key flashes the status
bar, and the label just given stays in view for a moment beside the next image."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.app import make_app, wait_shown
from tui_label.store import Store
from tui_label.tui.widgets.status import StatusBar


def image_line(app) -> str:
    return str(app.label_screen.query_one("#image-line").render())


async def test_a_key_before_the_image_is_drawn_flashes_the_status_bar(store: Store,
                                                                     dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        screen.stage.shown_id = None  # as when the next image is not drawn yet
        await pilot.press("1")
        bar = screen.query_one(StatusBar)
        assert bar.has_class("refused")
        assert store.counts().labeled == 0  # and nothing was labeled
        await pilot.pause(StatusBar.FLASH_SECONDS + 0.2)
        assert not bar.has_class("refused")


async def test_the_label_just_given_stays_in_view_then_goes(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("2")  # dog
        await wait_shown(pilot, screen, 1)
        assert "last: → dog" in image_line(app)
        await pilot.press("u")  # an undo says nothing of the sort
        await pilot.pause(StatusBar.PREVIOUS_SECONDS + 0.3)
        assert "last:" not in image_line(app)
        await wait_shown(pilot, screen, 0)
        await pilot.press("space")
        await wait_shown(pilot, screen, 1)
        assert "last: skipped" in image_line(app)

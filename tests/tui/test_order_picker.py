"""The order picker (issue 17.10): each entry says how many images it holds, and typing
narrows the list."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.app import make_app, wait_shown
from tui_label.core.orders import OrderChoice
from tui_label.store import Store
from tui_label.tui.screens.label import LabelScreen
from tui_label.tui.screens.order import OrderScreen

SIZE = (100, 40)


def prompts(picker: OrderScreen) -> list[str]:
    return [str(option.prompt) for option in picker.query_one("OptionList").options]


async def wait_counted(pilot, picker: OrderScreen) -> None:
    for _ in range(500):
        if len(picker.counts) == len(picker._choices):
            await pilot.pause()
            return
        await pilot.pause(0.01)
    raise AssertionError(f"never counted: {picker.counts}")


async def test_the_picker_shows_counts_and_filters_as_you_type(store: Store, dataset: Path):
    ids = {c.name: c.id for c in store.classes()}
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        for i, key in enumerate(("1", "2", "space")):  # cat, dog, a skip
            await pilot.press(key)
            await wait_shown(pilot, screen, i + 1)
        await pilot.press("o")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, OrderScreen)
        await wait_counted(pilot, picker)
        assert prompts(picker) == [
            "Unlabeled first  12", "All images, by path  12", "Skipped only  1",
            "Labeled as cat  1", "Labeled as dog  1", "Labeled as bird  0",
            "Random (seeded), unlabeled first  12", "Typical first (cold start)  9"]
        await pilot.press(*"as")
        await pilot.pause()
        assert prompts(picker) == ["Labeled as cat  1", "Labeled as dog  1",
                                   "Labeled as bird  0"]
        await pilot.press("space", *"DOG")  # every word, any case
        await pilot.pause()
        assert prompts(picker) == ["Labeled as dog  1"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LabelScreen)
        assert screen.session.order == OrderChoice("class", ids["dog"])
        assert [item.path for item in screen.session.queue] == ["img001.png"]


async def test_esc_clears_the_filter_then_closes(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("space")
        await wait_shown(pilot, screen, 1)
        await pilot.press("o")
        await pilot.pause()
        picker = app.screen
        await pilot.press(*"zzq")  # q types, it does not close
        await pilot.pause()
        assert prompts(picker) == []
        await pilot.press("enter")  # nothing to pick: stays open
        await pilot.pause()
        assert app.screen is picker
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is picker and len(prompts(picker)) == 8
        await pilot.press("down", "down", "enter")  # arrows move the list while typing
        await pilot.pause()
        assert screen.session.order == OrderChoice("skipped")
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LabelScreen)
        assert screen.session.order == OrderChoice("skipped")

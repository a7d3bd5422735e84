"""The panel's settings: kept in the database between sessions, an unknown model refused as
``tui-label train`` refuses it, and the focused setting's help on screen without a mouse."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Select, Static

from tests.helpers.panel import DIGITS, store_with_finished_run
from tui_label.runs.options import option_field
from tui_label.store import Store
from tui_label.tui.app import LabelApp
from tui_label.tui.widgets.image_view import load_renderer
from tui_label.tui.widgets.train_panel import PANEL_FIELDS, TrainPanel

SIZE = (160, 48)


def make_app(store: Store) -> LabelApp:
    return LabelApp(store, Path(store.get_setting("root")), load_renderer("halfcell"),
                    rescan=False)


async def open_panel(pilot, app) -> TrainPanel:
    await pilot.press("t")
    await pilot.pause()
    return app.screen.query_one(TrainPanel)


async def test_panel_settings_are_kept_between_two_sessions(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_panel(pilot, app)
        epochs = panel.query_one("#set-epochs", Input)
        epochs.focus()
        await pilot.pause()
        epochs.value = "3"
        await pilot.press("tab")  # leaving the field keeps it
        panel.query_one("#set-device", Select).value = "cpu"
        await pilot.pause()
    again = make_app(store)
    async with again.run_test(size=SIZE) as pilot:
        panel = await open_panel(pilot, again)
        settings = panel.settings()
        assert (settings["epochs"], settings["device"]) == ("3", "cpu")
        assert all(settings[name] == option_field(name).default_text
                   for name in PANEL_FIELDS if name not in ("epochs", "device"))
    store.close()


async def test_an_unknown_model_is_refused_in_the_panel_with_the_clis_message(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_panel(pilot, app)
        panel.query_one("#set-model", Input).value = "resnet1800"
        await pilot.press("T")
        await pilot.pause()
        assert app.label_screen.training.state.status == "finished"  # still the old run
        assert app.label_screen.training.process is None
        messages = [str(n.message) for n in app._notifications]
        assert any(m.startswith("unknown model 'resnet1800' (did you mean ") and
                   m.endswith("; any torchvision classification model or small-cnn")
                   for m in messages), messages
    assert store.latest_run_id() == 1
    store.close()


async def test_the_focused_settings_help_is_on_screen_without_the_mouse(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        panel = await open_panel(pilot, app)
        for _ in range(20):  # tab until a setting has the keys
            await pilot.press("tab")
            focused = app.focused
            if focused is not None and (focused.id or "").startswith("set-"):
                break
        else:
            raise AssertionError("tab never reached a setting")
        await pilot.pause()
        name = focused.id.removeprefix("set-")
        help_line = panel.query_one("#setting-help", Static)
        assert option_field(name).spec.help in str(help_line.render())
        assert help_line.region.height >= 1
        assert app.screen.region.contains_region(help_line.region)
        await pilot.press("tab")  # the next setting's help replaces it
        await pilot.pause()
        following = app.focused.id.removeprefix("set-")
        assert following != name
        assert option_field(following).spec.help in str(help_line.render())
    store.close()

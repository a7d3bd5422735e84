"""Readable in a 16-colour terminal on a light or a dark background (issue 17.5).

The app runs as in a 16-colour terminal (TERM=xterm: Textual's console gets the "standard"
colour system, and the app picks its ANSI theme). Every cell the screens draw, whatever its
style came from (the theme and the CSS, the widgets' Rich styles, Textual's widgets, the loss
chart), is measured under xterm's light palette and two dark ones (``tests.helpers.contrast``):
text at least 4.5:1 against its background, lines and bars at least 3:1. The states shown
cover every style the widgets choose from: suggestions with a warning, a suspect, an alert,
the progress bar, the panel idle, running (with warnings), finished and failed, the metrics
in the panel and full-screen, a focused setting and the confusion matrix's cursor.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import textual.constants
from rich.style import Style
from textual.widgets import Input
from textual.widgets._progress_bar import Bar
from textual_plotext import PlotextPlot

from tests.helpers.app import make_app, wait_shown
from tests.helpers.contrast import (
    PALETTES,
    TEXT_CONTRAST,
    XTERM,
    cell_colors,
    contrast,
    low_contrast,
    screen_cells,
    screen_lines,
)
from tests.helpers.fake_model import save_run
from tests.helpers.panel import store_with_finished_run
from tui_label.runs.state import EpochPoint, RunState
from tui_label.store import Store
from tui_label.tui import styles
from tui_label.tui.widgets.alert import Alert
from tui_label.tui.widgets.image_view import ImageView
from tui_label.tui.widgets.metrics_view import ConfusionView
from tui_label.tui.widgets.suggestions import Suggestions, suggestions_text, suspect_text
from tui_label.tui.widgets.train_panel import TrainPanel


@pytest.fixture(autouse=True)
def sixteen_colours(monkeypatch):
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "standard")


def test_the_measure_gives_the_issues_figures():
    """Yellow on a white xterm 1.7:1, green 2.2:1 (issue 17.5); black on white 21:1."""
    white = (255, 255, 255)
    assert round(contrast(XTERM[3], white), 1) == 1.7
    assert round(contrast(XTERM[2], white), 1) == 2.2
    assert contrast(*cell_colors(Style(), PALETTES[0])) == pytest.approx(21)
    # bold black is grey in xterm: 4.0:1 on white, not 21
    assert round(contrast(*cell_colors(Style.parse("bold black"), PALETTES[0])), 1) == 4.0


@pytest.mark.parametrize("name", [n for n in dir(styles) if n.isupper() and n[0] != "_"
                                  and isinstance(getattr(styles, n), str)])
def test_every_text_style_of_the_widgets_is_readable_on_every_palette(name: str):
    style = Style.parse(getattr(styles, name))
    for palette in PALETTES:
        assert contrast(*cell_colors(style, palette)) >= TEXT_CONTRAST, (name, palette.name)


def check(app, what: str, problems: list[str]) -> None:
    """Add the screen's cells below their contrast, the photo left out."""
    assert app.current_theme.ansi, "not drawn in the terminal's palette"
    photo = [w.region for w in app.screen.query(ImageView)]
    found = low_contrast(screen_cells(app, skip=photo), screen_lines(app))
    problems.extend(f"{what}: {line}" for line in found)


async def test_the_labeling_screen_is_readable_on_light_and_dark(store: Store, dataset: Path):
    run = save_run(store, {f"img{i:03d}.png": [0.7, 0.2, 0.1] for i in range(12)})
    store.update_run(run, num_train=2, num_val=1)
    problems: list[str] = []
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        for n, key in enumerate("12a"):
            await pilot.press(key)
            await wait_shown(pilot, screen, n + 1)
        await pilot.pause(0.2)
        suggestions = screen.query_one(Suggestions)
        assert suggestions.display
        # the progress bar: 4 of 12 done, and the rest drawn too (it was blank)
        bar = screen.query_one(Bar).region
        drawn = [c for c in screen_cells(app) if c.y == bar.y and bar.x <= c.x < bar.right]
        assert len(drawn) == bar.width and len({str(c.style) for c in drawn}) == 2
        check(app, "suggestions, progress", problems)
        suggestions.say(suggestions_text([("cat", 0.7), ("dog", 0.2)], f"run {run}",
                                         [f"3 labels newer than run {run}", "classes changed"]))
        await pilot.pause()
        check(app, "suggestions with warnings", problems)
        suggestions.say(suspect_text("cat", "dog", 0.87, f"run {run}",
                                     [f"3 labels newer than run {run}"]))
        screen.query_one(Alert).say("database is locked: this label was not saved")
        await pilot.pause()
        check(app, "suspect, alert", problems)
        for key, what in (("question_mark", "help"), ("escape", ""), ("o", "order picker")):
            await pilot.press(key)
            await pilot.pause(0.3)
            if what:
                check(app, what, problems)
    assert not problems, "\n".join(problems)


def states(store: Store) -> dict[str, RunState]:
    """The panel's states, from the store's finished run."""
    finished = RunState.from_store(store, store.latest_run()["id"])
    running = RunState.from_store(store, store.latest_run()["id"])
    running.status, running.epoch, running.epochs, running.step, running.steps = (
        "running", 2, 5, 3, 8)
    running.step_losses = [(k / 8, 2.0 / (1 + k / 4)) for k in range(17)]
    running.history = [EpochPoint(1, 1.4, 1.5, 0.4, 0.3), EpochPoint(2, 0.9, 1.1, 0.6, 0.5)]
    running.warnings = ["only 3 validation images: accuracy moves in steps of 33%"]
    failed = RunState.from_store(store, store.latest_run()["id"])
    failed.status, failed.reason, failed.has_checkpoint = "failed", "out of memory", True
    failed.warnings = ["class 'bird' has 1 label"]
    return {"idle": RunState(), "running": running, "finished": finished, "failed": failed}


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_training_panel_and_metrics_are_readable(tmp_path: Path, size):
    store = store_with_finished_run(tmp_path, ["cat", "dog", "bird"])
    problems: list[str] = []
    app = make_app(store, Path(store.get_setting("root")))
    async with app.run_test(size=size) as pilot:
        await pilot.press("t")
        await pilot.pause()
        panel = app.screen.query_one(TrainPanel)
        plot = panel.query_one(PlotextPlot)
        for name, state in states(store).items():
            panel.show_state(state, force=True)
            panel.scroll_home(animate=False)
            await pilot.pause()
            check(app, f"panel {name}", problems)
            panel.scroll_to_widget(plot, animate=False)  # the chart and what is below it
            await pilot.pause()
            check(app, f"panel {name}, scrolled", problems)
            if name == "running":  # the chart's legend and axis label are on screen
                chart = "\n".join(
                    line[plot.region.x:plot.region.right]
                    for line in screen_lines(app)[plot.region.y:plot.region.bottom])
                assert all(word in chart for word in ("train", "validation", "epoch")), chart
        panel.query_one("#set-epochs", Input).focus()
        await pilot.pause()
        check(app, "a setting focused", problems)
        if not panel.compact:
            panel.query_one(ConfusionView).focus()
            await pilot.pause()
            check(app, "the matrix's cursor", problems)
        app.screen.set_focus(None)
        await pilot.press("M")
        await pilot.pause()
        check(app, "metrics full screen", problems)
    store.close()
    assert not problems, "\n".join(problems)

"""The training panel and the metrics view in the real app, without training: a finished run
is written to the store as the trainer would, and the panel shows it again.

Hostile class names, the button's contrast in a 16-colour xterm, and the layout at 80x24 and
160x48 (the image keeps its share; the per-class metrics are never out of sight unannounced).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rich.color import ColorSystem
from textual.app import App
from textual.widgets import Button, DataTable, Input, Select, Static

import tui_label.runs.controller as training
from tests.helpers.panel import DIGITS, store_with_finished_run
from tui_label.runs.options import TrainOptions, option_field
from tui_label.runs.state import RunState
from tui_label.store import Store
from tui_label.tui.app import LabelApp
from tui_label.tui.screens.metrics import MetricsScreen
from tui_label.tui.widgets.image_view import ImageView, load_renderer
from tui_label.tui.widgets.train_panel import PANEL_FIELDS, TrainPanel

HOSTILE = ["[/]", "[b]x", "[red", "\\[", "a]b", "[link=x]y[/link]"]




def make_app(store: Store) -> LabelApp:
    root = Path(store.get_setting("root"))
    return LabelApp(store, root, load_renderer("halfcell"), rescan=False)


def plain(widget: Static) -> str:
    return str(widget.render())


class PanelHost(App):
    """The panel alone (the hostile-name test is about the panel, not the other widgets)."""

    def compose(self):
        yield TrainPanel(id="train-panel")


async def test_hostile_names_render_literally_in_the_panel_and_metrics(tmp_path: Path):
    store = store_with_finished_run(tmp_path, HOSTILE, model="[b]model[/b]", status="failed",
                                    reason="class '[/]' has [red]1 label")
    state = RunState.from_store(store, store.latest_run()["id"])
    state.warnings.append("[/] in a warning")
    store.close()
    app = PanelHost()
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.query_one(TrainPanel)
        panel.show_state(state)
        await pilot.pause()
        table = panel.query_one("#per-class", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == HOSTILE
        status = plain(panel.query_one("#train-status", Static))
        assert "[b]model[/b]" in status and "class '[/]' has [red]1 label" in status
        assert "[/] in a warning" in status
        confusion = plain(panel.query_one("#confusion", Static))
        for name in HOSTILE:  # cut to the column width, but literal
            assert name[:3] in confusion or (name[:2] + "…") in confusion, name
        await app.push_screen(MetricsScreen(state))
        await pilot.pause()
        full = plain(app.screen.query_one("#confusion", Static))
        rows = full.splitlines()[2:2 + len(HOSTILE)]  # then the line naming run and epoch
        assert [row.split()[0] for row in rows] == HOSTILE  # full names as row labels
        table = app.screen.query_one("#per-class", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == HOSTILE
        assert "[b]model[/b]" in plain(app.screen.query_one("#metrics-summary", Static))


def xterm_rgb(color, *, bold: bool) -> tuple[int, int, int]:
    """How xterm (TERM=xterm: 16 colours) shows ``color``: bold turns colours 0-7 bright."""
    palette = [(0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205),
               (0, 205, 205), (229, 229, 229), (127, 127, 127), (255, 0, 0), (0, 255, 0),
               (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255)]
    number = color.downgrade(ColorSystem.STANDARD).number
    if bold and number < 8:
        number += 8
    return palette[number]


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two sRGB colours."""
    def luminance(rgb):
        c = [(v / 255) / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in rgb]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def label_contrast(button: Button) -> float:
    """The button label's contrast as a 16-colour xterm draws it."""
    segments = [s for s in button.render_line(0) if "training" in s.text]
    assert segments, "the label is not on the button's line"
    style = segments[0].style
    fg, bg = (style.bgcolor, style.color) if style.reverse else (style.color, style.bgcolor)
    return contrast(xterm_rgb(fg, bold=bool(style.bold)), xterm_rgb(bg, bold=False))


async def test_start_and_stop_buttons_are_readable_in_a_16_colour_xterm(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    app = make_app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        panel = app.screen.query_one(TrainPanel)
        button = panel.query_one("#start", Button)
        assert str(button.label) == "Start training (T)"
        assert label_contrast(button) >= 4.5
        button.focus()
        await pilot.pause()
        assert label_contrast(button) >= 4.5
        running = app.label_screen.training.state
        running.status = "running"
        panel.show_state(running, force=True)
        await pilot.pause()
        assert str(button.label) == "Stop training (T)"
        assert label_contrast(button) >= 4.5
    store.close()


async def test_at_80x24_the_image_keeps_half_the_width_and_m_shows_the_metrics(tmp_path):
    store = store_with_finished_run(tmp_path, DIGITS)
    app = make_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        panel = app.screen.query_one(TrainPanel)
        image = app.screen.query_one(ImageView)
        assert panel.display and panel.compact
        assert image.size.width >= 40
        assert panel.outer_size.width <= 40
        # Compact: the title and a hint point to M; the tables are not in the panel.
        assert "M" in plain(panel.query_one("#train-title", Static))
        hint = panel.query_one("#metrics-hint", Static)
        assert "M: per-class metrics, confusion matrix" in plain(hint)
        assert hint.region.bottom <= panel.region.bottom  # visible without scrolling
        assert not panel.query_one("#per-class", DataTable).display
        # Every setting is on screen, in the panel.
        for name in PANEL_FIELDS:
            widget = panel.query_one(f"#set-{name}")
            assert panel.region.contains_region(widget.region), name
        await pilot.press("M")
        await pilot.pause()
        assert isinstance(app.screen, MetricsScreen)
        table = app.screen.query_one("#per-class", DataTable)
        assert table.display and table.row_count == 10
        confusion = app.screen.query_one("#confusion", Static)
        assert "confusion" in plain(confusion)
        assert not app.screen.region.contains_region(confusion.region)
        await pilot.press("end")  # too tall for 24 rows: the keys scroll to the matrix
        await pilot.pause()
        assert app.screen.region.contains_region(confusion.region)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.label_screen
    store.close()


async def test_at_160x48_the_panel_says_where_the_per_class_metrics_are(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    app = make_app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        panel = app.screen.query_one(TrainPanel)
        image = app.screen.query_one(ImageView)
        assert not panel.compact
        assert image.size.width >= 160 // 2
        table = panel.query_one("#per-class", DataTable)
        assert table.display and table.row_count == 10
        confusion = panel.query_one("#confusion", Static)
        hint = panel.query_one("#metrics-hint", Static)
        assert panel.region.contains_region(hint.region)  # the hint itself is in sight
        if not panel.region.contains_region(confusion.region):  # below the fold: said so
            assert "M: metrics full screen" in plain(hint) and "below" in plain(hint)
        await pilot.press("M")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MetricsScreen)
        full_table = screen.query_one("#per-class", DataTable)
        full_confusion = screen.query_one("#confusion", Static)
        # Full screen: the table and the whole matrix are in sight at once.
        for widget in (full_table, full_confusion):
            assert screen.region.contains_region(widget.region)
        assert full_table.row_count == 10
    store.close()


async def test_panel_settings_come_from_the_options(tmp_path: Path):
    store = store_with_finished_run(tmp_path, DIGITS)
    app = make_app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        panel = app.screen.query_one(TrainPanel)
        settings = panel.settings()
        assert list(settings) == list(PANEL_FIELDS)
        for name in PANEL_FIELDS:
            assert settings[name] == option_field(name).default_text, name
        db, root = store.path, Path(store.get_setting("root"))
        assert TrainOptions.from_settings(db, root, settings) == TrainOptions(db=db, root=root)
        # What a person types or picks is what the trainer gets.
        panel.query_one("#set-epochs", Input).value = "4"
        panel.query_one("#set-lr", Input).value = "0.01"
        panel.query_one("#set-device", Select).value = "cpu"
        panel.query_one("#set-hflip", Select).value = "yes"
        opts = TrainOptions.from_settings(db, root, panel.settings())
        assert (opts.epochs, opts.lr, opts.device, opts.hflip) == (4, 0.01, "cpu", True)
        assert {"--epochs=4", "--lr=0.01", "--device=cpu", "--hflip"} <= set(opts.command_args())
    store.close()


async def test_the_panel_offers_to_resume_a_cancelled_run_and_r_resumes_it(tmp_path, monkeypatch):
    store = store_with_finished_run(tmp_path, DIGITS, status="cancelled",
                                    reason="stopped by SIGINT in epoch 3")
    run_id = store.latest_run()["id"]
    last = tmp_path / "last.pt"
    last.write_bytes(b"read by the trainer, not the labeler")
    store.update_run(run_id, last_checkpoint=str(last), config={"epochs": 4})
    started = []
    monkeypatch.setattr(training, "trainer_command",
                        lambda opts: started.append(opts) or [sys.executable, "-c", "pass"])
    app = make_app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        status = plain(app.screen.query_one("#train-status", Static))
        assert "cancelled: stopped by SIGINT in epoch 3" in status
        assert "R resumes it from its last checkpoint (epoch 2 of 4)" in status
        await pilot.press("R")
        await pilot.pause()
        (opts,) = started
        assert opts.resume == run_id and opts.db == store.path
        assert opts.command_args()[-3:] == [f"--resume={run_id}", "--",
                                            store.get_setting("root")]
        state = app.screen.training.state
        assert state.run_id == run_id and [h.epoch for h in state.history] == [1, 2]
    store.close()


async def test_a_finished_run_is_not_offered_for_resuming(tmp_path: Path, monkeypatch):
    store = store_with_finished_run(tmp_path, DIGITS)
    store.update_run(store.latest_run()["id"], last_checkpoint=str(tmp_path / "last.pt"))
    monkeypatch.setattr(training, "trainer_command",
                        lambda opts: pytest.fail("no trainer may start"))
    app = make_app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        assert "resumes" not in plain(app.screen.query_one("#train-status", Static))
        await pilot.press("R")
        await pilot.pause()
        assert app.screen.training.state.status == "finished"
    store.close()

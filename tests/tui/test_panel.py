"""The training panel in the real app: start from the panel, watch it live, keep labeling."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from tests.helpers.data import SAMPLE_DATA, sample_store
from tui_label.store import Store
from tui_label.tui.app import LabelApp
from tui_label.tui.widgets.image_view import load_renderer
from tui_label.tui.widgets.train_panel import TrainPanel

SIZE = (160, 50)


def make_app(store: Store) -> LabelApp:
    return LabelApp(store, SAMPLE_DATA.resolve(), load_renderer("halfcell"), rescan=False)


def panel_text(app) -> str:
    return " ".join(str(w.render()) for w in app.screen.query_one(TrainPanel).query("Static"))


@pytest.mark.torch  # starts the trainer
async def test_train_from_panel_while_labeling(tmp_path: Path):
    store = sample_store(tmp_path / "l.db", per_class=12)
    store.annotator = "human"
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await pilot.press("t")
        await pilot.pause()
        panel = app.screen.query_one(TrainPanel)
        assert panel.display
        panel.query_one("#set-epochs", Input).value = "3"
        await pilot.press("T")
        labeled_while_training = []
        deadline = time.monotonic() + 240
        while screen.training.state.status not in ("finished", "failed", "cancelled"):
            assert time.monotonic() < deadline, "training never finished"
            # Keep labeling at full speed: each key labels the shown image and advances.
            if screen.training.state.status == "running" and screen.stage.shown_id is not None:
                shown = screen.stage.shown_id
                await pilot.press("1")
                if screen.stage.shown_id != shown:
                    labeled_while_training.append(shown)
            await pilot.pause(0.2)
        state = screen.training.state
        assert state.status == "finished", state.reason
        await pilot.pause(0.3)
        text = panel_text(app)
        table = panel.query_one("#per-class", DataTable)
        assert len(state.history) == 3
        assert "finished" in text and "accuracy" in text and "confusion" in text
        assert table.row_count == 10
        assert "macro-F1" in text
    assert labeled_while_training, "no key labeled an image while training ran"
    current = {r[0]: r[1] for r in store.conn.execute(
        "SELECT image_id, action FROM label_events WHERE annotator = 'human'")}
    assert set(labeled_while_training) <= set(current)
    run = store.latest_run()
    assert run["status"] == "finished" and run["model"] == "small-cnn"
    assert len(store.epochs(run["id"])) == 3


@pytest.mark.torch  # starts the trainer
async def test_panel_shows_last_run_after_restart(tmp_path: Path):
    db = tmp_path / "l.db"
    sample_store(db, per_class=6).close()
    proc = subprocess.run(
        [sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--epochs", "2",
         "--image-size", "32", "--events", "json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    store = Store(db)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await pilot.pause(0.3)
        state = app.label_screen.training.state
        assert state.status == "finished" and len(state.history) == 2
        text = panel_text(app)
        assert "finished" in text and "confusion" in text


@pytest.mark.torch  # starts the trainer
async def test_panel_reattaches_to_a_running_run_and_stops_it(tmp_path: Path):
    db = tmp_path / "l.db"
    sample_store(db, per_class=8).close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_label.trainer", "--db", str(db), "--epochs", "500",
         "--image-size", "32", "--events", "json"], stdout=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        for line in proc.stdout:  # wait until it really trains
            if json.loads(line)["event"] == "epoch":
                break
        store = Store(db)
        app = make_app(store)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("t")
            await pilot.pause(1.5)  # at least one poll of the store
            state = app.label_screen.training.state
            assert state.status == "running" and state.history
            await pilot.press("T")  # stop: SIGTERM to the trainer
            proc.stdout.close()
            assert proc.wait(timeout=60) == 130
            await pilot.pause(1.5)
            assert app.label_screen.training.state.status == "cancelled"
        assert store.latest_run()["status"] == "cancelled"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)


async def test_bad_panel_settings_are_reported_not_started(tmp_path: Path):
    store = sample_store(tmp_path / "l.db", per_class=3)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await pilot.pause()
        panel = app.screen.query_one(TrainPanel)
        panel.query_one("#set-epochs", Input).value = "many"
        await pilot.press("T")
        await pilot.pause()
        assert app.label_screen.training.state.status == "idle"
        assert any("not a number" in str(n.message) for n in app._notifications)
    assert store.latest_run() is None


async def test_zero_epochs_in_the_panel_is_an_error_not_a_default(tmp_path: Path):
    store = sample_store(tmp_path / "l.db", per_class=3)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one(TrainPanel).query_one("#set-epochs", Input).value = "0"
        await pilot.press("T")
        await pilot.pause()
        assert app.label_screen.training.state.status == "idle"
        assert any("--epochs must be at least 1" in str(n.message) for n in app._notifications)

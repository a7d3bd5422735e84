"""Multi-label metrics against hand-computed values, and how the panel and the metrics screen
show them: the threshold, each class's TP/FP/FN, and no confusion matrix. No torch."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from tests.helpers.data import make_images
from tests.helpers.queue import queue_of
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.runs.events import parse
from tui_label.runs.metrics import Report, multi_label_report, report
from tui_label.runs.state import RunState
from tui_label.store import Store
from tui_label.tui.screens.metrics import MetricsScreen
from tui_label.tui.widgets.metrics_view import ConfusionView
from tui_label.tui.widgets.train_panel import TrainPanel

NAMES = ["a", "b", "c"]
# Five validation images: the classes each holds, and the model's probabilities.
TARGETS = [[1, 0, 1], [1, 1, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]]
PROBS = [[0.9, 0.2, 0.6], [0.7, 0.4, 0.1], [0.1, 0.3, 0.2], [0.5, 0.8, 0.0], [0.2, 0.6, 0.4]]


def test_per_class_counts_and_scores_at_the_default_threshold():
    # At 0.5 the predicted sets are {a,c} {a} {} {a,b} {b} (0.5 itself counts as predicted).
    #   a: TP 2 (images 0, 1), FP 1 (3), FN 0  -> P 2/3, R 1,   F1 0.8
    #   b: TP 1 (3), FP 1 (4), FN 1 (1)        -> P 1/2, R 1/2, F1 0.5
    #   c: TP 1 (0), FP 0,     FN 1 (4)        -> P 1,   R 1/2, F1 2/3
    r = multi_label_report(TARGETS, PROBS, NAMES)
    a, b, c = r.per_class
    assert (a.tp, a.fp, a.fn, a.support) == (2, 1, 0, 2)
    assert (b.tp, b.fp, b.fn, b.support) == (1, 1, 1, 2)
    assert (c.tp, c.fp, c.fn, c.support) == (1, 0, 1, 2)
    assert (a.precision, a.recall, a.f1) == (pytest.approx(2 / 3), 1.0, pytest.approx(0.8))
    assert (b.precision, b.recall, b.f1) == (0.5, 0.5, pytest.approx(0.5))
    assert (c.precision, c.recall, c.f1) == (1.0, 0.5, pytest.approx(2 / 3))
    assert r.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r.micro_f1 == pytest.approx(2 * 4 / (2 * 4 + 2 + 2))  # TP 4, FP 2, FN 2
    assert r.accuracy == pytest.approx(2 / 5)  # exact match: images 0 and 2 (the empty set)
    assert r.threshold == 0.5 and r.multi_label and r.confusion == []


def test_a_higher_threshold_changes_the_counts():
    # At 0.65: {a} {a} {} {b} {}
    r = multi_label_report(TARGETS, PROBS, NAMES, threshold=0.65)
    a, b, c = r.per_class
    assert [(k.tp, k.fp, k.fn) for k in r.per_class] == [(2, 0, 0), (1, 0, 1), (0, 0, 2)]
    assert (a.f1, b.f1, c.f1) == (1.0, pytest.approx(2 / 3), 0.0)
    assert r.micro_f1 == pytest.approx(6 / 9)  # TP 3, FP 0, FN 3
    assert r.accuracy == pytest.approx(2 / 5)  # images 2 and 3
    assert r.threshold == 0.65


def test_a_class_nobody_holds_is_left_out_of_macro_f1_and_nothing_divides_by_zero():
    r = multi_label_report([[1, 0], [1, 0]], [[0.9, 0.1], [0.8, 0.7]], ["x", "y"])
    assert r.per_class[1].support == 0 and r.per_class[1].precision == 0.0
    assert r.macro_f1 == 1.0  # x alone: perfect
    assert r.micro_f1 == pytest.approx(4 / 5)  # TP 2, FP 1
    empty = multi_label_report([], [], ["x", "y"])
    assert (empty.accuracy, empty.macro_f1, empty.micro_f1) == (0.0, 0.0, 0.0)


def test_multi_label_report_round_trips_and_single_label_keeps_its_keys():
    r = multi_label_report(TARGETS, PROBS, NAMES, threshold=0.4)
    assert Report.from_dict(r.to_dict()) == r
    single = report([[1, 1], [0, 2]], ["a", "b"]).to_dict()
    assert set(single) == {"accuracy", "macro_f1", "per_class", "confusion"}
    assert set(single["per_class"][0]) == {"name", "precision", "recall", "f1", "support"}


# -- the panel and the metrics screen --------------------------------------------------------


def store_with_run(tmp_path: Path, *, multi_label: bool, threshold: float = 0.5,
                   confusion: list[list[int]] | None = None) -> Store:
    """A store with one finished run as the trainer writes it, multi-label or not."""
    root = tmp_path / "data"
    make_images(root, 6)
    store = Store(tmp_path / "l.db", annotator="tester")
    store.set_classes([ClassSpec(n, str(k + 1)) for k, n in enumerate(NAMES)])
    store.sync_images(scan(root))
    store.set_setting("root", str(root))
    if multi_label:
        rep = multi_label_report(TARGETS, PROBS, NAMES, threshold).to_dict()
        config = {"epochs": 2, "multi_label": True, "threshold": threshold}
    else:
        rep = report(confusion or [[2, 1, 0], [0, 2, 0], [0, 0, 3]], NAMES).to_dict()
        config = {"epochs": 2, "multi_label": False, "threshold": 0.5}
    run_id = store.create_run("small-cnn", config, NAMES)
    for epoch in (1, 2):
        store.add_epoch(run_id, epoch, train_loss=1.0 / epoch, val_loss=1.2 / epoch,
                        report=rep, seconds=1.0, images_per_sec=100.0)
    store.update_run(run_id, status="finished", device="cpu", num_train=20, num_val=5)
    return store


def state_of(store: Store) -> RunState:
    state = RunState.from_store(store, store.latest_run()["id"])
    store.close()
    return state


class PanelHost(App):
    def compose(self):
        yield TrainPanel(id="train-panel")


def plain(widget: Static) -> str:
    return str(widget.render())


def table_text(table: DataTable) -> tuple[list[str], list[list[str]]]:
    return ([str(c.label) for c in table.columns.values()],
            [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)])


async def test_panel_shows_the_threshold_and_per_class_counts(tmp_path: Path):
    state = state_of(store_with_run(tmp_path, multi_label=True, threshold=0.35))
    assert state.threshold == 0.35 and state.history[-1].micro_f1 is not None
    app = PanelHost()
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.query_one(TrainPanel)
        panel.show_state(state)
        await pilot.pause()
        epochs = plain(panel.query_one("#epochs", Static))
        assert "threshold 0.35" in epochs and "micro-F1" in epochs
        assert "multi-label, threshold 0.35" in plain(panel.query_one("#train-status", Static))
        assert "exact-match accuracy" in plain(panel.query_one("#train-status", Static))
        columns, rows = table_text(panel.query_one("#per-class", DataTable))
        assert columns[-3:] == ["TP", "FP", "FN"]
        expected = multi_label_report(TARGETS, PROBS, NAMES, 0.35).per_class
        assert [row[0] for row in rows] == NAMES
        assert [row[-3:] for row in rows] == [[str(c.tp), str(c.fp), str(c.fn)]
                                              for c in expected]
        confusion = panel.query_one("#confusion", ConfusionView)
        assert "no confusion matrix in multi-label mode" in plain(confusion)
        assert confusion.report is None  # no cell to choose
        assert "TP/FP/FN" in plain(panel.query_one("#metrics-hint", Static))
        # The metrics screen: the same threshold, and enter picks nothing
        await app.push_screen(MetricsScreen(state))
        await pilot.pause()
        assert "threshold 0.35" in plain(app.screen.query_one("#epochs", Static))
        assert "confusion" not in plain(app.screen.query_one("#metrics-title", Static))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MetricsScreen)


async def test_a_single_label_run_after_a_multi_label_one_gets_its_matrix_back(tmp_path: Path):
    multi = state_of(store_with_run(tmp_path / "m", multi_label=True))
    single = state_of(store_with_run(tmp_path / "s", multi_label=False))
    assert single.threshold is None and single.history[-1].micro_f1 is None
    app = PanelHost()
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.query_one(TrainPanel)
        panel.show_state(multi)
        await pilot.pause()
        panel.show_state(single)
        await pilot.pause()
        assert "threshold" not in plain(panel.query_one("#epochs", Static))
        assert "threshold" not in plain(panel.query_one("#train-status", Static))
        columns, rows = table_text(panel.query_one("#per-class", DataTable))
        assert columns == ["class", "precision", "recall", "F1", "support"]
        assert [row[-1] for row in rows] == ["3", "2", "3"]
        confusion = panel.query_one("#confusion", ConfusionView)
        assert confusion.report is single.report
        assert "multi-label" not in plain(confusion)


def test_run_state_follows_the_trainer_events_of_a_multi_label_run():
    state = RunState()
    state.apply(parse({"event": "started", "run_id": 4, "model": "small-cnn", "device": "cpu",
                 "classes": NAMES, "num_train": 8, "num_val": 2, "epochs": 2, "steps": 1,
                 "config": {"multi_label": True, "threshold": 0.6}}))
    assert state.threshold == 0.6  # known before the first epoch's metrics
    rep = multi_label_report(TARGETS, PROBS, NAMES, 0.6)
    state.apply(parse({"event": "epoch", "run_id": 4, "epoch": 1, "epochs": 2, "train_loss": 0.5,
                 "val_loss": 0.6, **rep.to_dict()}))
    assert state.report == rep and state.history[-1].micro_f1 == rep.micro_f1


@pytest.mark.torch  # starts the trainer
async def test_a_run_started_from_the_panel_of_a_multi_label_database(tmp_path: Path):
    import time

    from tests.helpers.data import SAMPLE_DATA, sample_store
    from tui_label.tui.app import LabelApp
    from tui_label.tui.widgets.image_view import load_renderer

    store = sample_store(tmp_path / "l.db", per_class=6)  # single labels: sets of one
    store.set_multi_label()
    digits = {c.name: c.id for c in store.classes()}
    for item in queue_of(store, "unlabeled")[:10]:
        store.label_set(item.id, [digits["1"], digits["7"]])  # a few sets of two
    app = LabelApp(store, SAMPLE_DATA.resolve(), load_renderer("halfcell"), rescan=False)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.label_screen
        await pilot.press("t")
        await pilot.pause()
        panel = app.screen.query_one(TrainPanel)
        panel.query_one("#set-epochs").value = "2"
        await pilot.press("T")
        deadline = time.monotonic() + 240
        while screen.training.state.status not in ("finished", "failed", "cancelled"):
            assert time.monotonic() < deadline, "training never finished"
            await pilot.pause(0.2)
        state = screen.training.state
        assert state.status == "finished", state.reason
        await pilot.pause(0.3)
        assert state.threshold == 0.5 and state.report.multi_label
        assert "threshold 0.50" in plain(panel.query_one("#epochs", Static))
        columns, rows = table_text(panel.query_one("#per-class", DataTable))
        assert columns[-3:] == ["TP", "FP", "FN"] and len(rows) == 10
        assert "no confusion matrix" in plain(panel.query_one("#confusion", ConfusionView))
        assert screen.session.model is None  # no single-label suggestions from this run
    run = store.latest_run()
    assert run["config"]["multi_label"] is True and store.predictions(run["id"]) == {}
    store.close()


async def test_scores_a_validation_set_cannot_give_are_dashes_not_zeros(tmp_path: Path):
    """No validation image of a class: its recall is undefined, not 0.00; never predicted:
    its precision. Both: its F1."""
    # cat: 2 right, 1 taken for dog; dog: none in validation, predicted once; bird: none
    # in validation and never predicted.
    state = state_of(store_with_run(tmp_path, multi_label=False,
                                    confusion=[[2, 1, 0], [0, 0, 0], [0, 0, 0]]))
    app = PanelHost()
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.query_one(TrainPanel)
        panel.show_state(state)
        await pilot.pause()
        _, rows = table_text(panel.query_one("#per-class", DataTable))
    assert rows == [[NAMES[0], "1.00", "0.67", "0.80", "3"],
                    [NAMES[1], "0.00", "—", "0.00", "0"],
                    [NAMES[2], "—", "—", "—", "0"]]


async def test_the_loss_plot_leaves_room_above_the_curves_for_its_legend(tmp_path: Path):
    """The legend (two rows, top left) hid the first epochs' points, the highest."""
    import re

    from textual_plotext import PlotextPlot

    state = state_of(store_with_run(tmp_path, multi_label=False))
    losses = [h.val_loss for h in state.history] + [y for _, y in state.step_losses]
    app = PanelHost()
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.query_one(TrainPanel)
        panel.show_state(state)
        await pilot.pause()
        plot = panel.query_one(PlotextPlot)
        plot.plt.plotsize(60, 12)
        text = re.sub(r"\x1b\[[0-9;]*m", "", plot.plt.build())
    ticks = [float(m) for m in re.findall(r"^\s*(-?[0-9.]+)\s*[┤┼]", text, re.M)]
    spread = max(losses) - min(losses)
    assert spread > 0 and ticks
    assert max(ticks) >= max(losses) + 0.3 * spread

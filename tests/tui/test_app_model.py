"""Pilot tests of the model in the labeler: suggestions, accepting, model orders, the suspect
queue, the confusion drill-down and auto-retrain. Each asserts on the store.

The runs are written by hand (``tests.helpers.fake_model``): no torch, no training.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers.app import labels_by_path, make_app, wait_shown
from tests.helpers.fake_model import save_run
from tui_label.config.settings import ClassSpec
from tui_label.core.orders import OrderChoice
from tui_label.runs.metrics import report
from tui_label.store import Store
from tui_label.tui.screens.label import LabelScreen
from tui_label.tui.screens.metrics import MetricsScreen
from tui_label.tui.widgets.metrics_view import ConfusionView
from tui_label.tui.widgets.suggestions import Suggestions

SIZE = (120, 34)
# img000..img011: cat for the even images, dog for the odd ones; img003 is the least sure.
PROBS = {f"img{i:03d}.png": ([0.8, 0.15, 0.05] if i % 2 == 0 else [0.1, 0.85, 0.05])
         for i in range(12)}
PROBS["img003.png"] = [0.4, 0.35, 0.25]
del PROBS["img011.png"]  # never predicted


def events(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT i.path, e.action, c.name, e.source, e.probability, e.run_id FROM label_events e "
        "JOIN images i ON i.id = e.image_id LEFT JOIN classes c ON c.id = e.class_id "
        "ORDER BY e.id")]


def cid(store: Store, name: str) -> int:
    return next(c.id for c in store.classes() if c.name == name)


async def wait_for(pilot, condition, what: str = "condition") -> None:
    for _ in range(1000):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"{what} never happened")


async def wait_model(pilot, screen: LabelScreen, run_id: int | None = None) -> None:
    await wait_for(pilot, lambda: screen.session.model is not None and (
        run_id is None or screen.session.model.run_id == run_id), "the model")
    await pilot.pause()


def line(app) -> str:
    widget = app.screen.query_one(Suggestions)
    return str(widget.render()) if widget.display else ""


def status(app) -> str:
    return str(app.screen.query_one("#counts").render())


class Bells:
    def __init__(self, app) -> None:
        self.count = 0
        ring = app.bell
        app.bell = lambda: (setattr(self, "count", self.count + 1), ring())


async def test_suggestions_show_and_a_or_enter_accepts_them(store: Store, dataset: Path):
    run = save_run(store, PROBS)
    store.update_run(run, num_train=8, num_val=2)  # the run learnt from 10 labels
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        await wait_shown(pilot, screen, 0)  # drawn again: the suggestions line took a row
        text = line(app)
        assert "cat 80%" in text and "dog 15%" in text and f"run {run}" in text
        assert "newer" not in text
        await pilot.press("a")
        await wait_shown(pilot, screen, 1)
        assert "dog 85%" in line(app)
        assert "newer" not in line(app)  # one label since the run: 10% of its labels
        await pilot.press("enter")
        await wait_shown(pilot, screen, 2)
        await pilot.press("2")  # a typed key overrides the suggestion
        await wait_shown(pilot, screen, 3)
        assert f"3 labels newer than run {run}" in line(app)  # 30% of its labels
    assert events(store) == [
        ("img000.png", "label", "cat", "suggestion", pytest.approx(0.8), run),
        ("img001.png", "label", "dog", "suggestion", pytest.approx(0.85), run),
        ("img002.png", "label", "dog", None, None, None),
    ]


async def test_nothing_to_accept_rings_and_writes_nothing(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        bells = Bells(app)
        await wait_shown(pilot, screen, 0)
        await pilot.pause(0.2)
        assert screen.session.model is None and line(app) == ""  # no model: no line at all
        await pilot.press("a")
        assert bells.count == 1 and screen.session.pos == 0
        save_run(store, {"img001.png": [0.1, 0.8, 0.1]})  # a model, but not for img000
        screen._load_model()
        await wait_model(pilot, screen)
        await wait_shown(pilot, screen, 0)
        assert "no prediction for this image" in line(app)
        await pilot.press("a")
        assert bells.count == 2 and screen.session.pos == 0
    assert events(store) == []


async def test_s_hides_suggestions_and_hidden_ones_are_not_accepted(store: Store, dataset: Path):
    save_run(store, PROBS)
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        assert "cat 80%" in line(app)
        await pilot.press("S")
        await wait_shown(pilot, screen, 0)
        assert line(app) == ""
        await pilot.press("a")
        await pilot.pause(0.05)
        assert events(store) == [] and screen.session.pos == 0
        await pilot.press("S")
        await wait_shown(pilot, screen, 0)
        assert "cat 80%" in line(app)


async def test_no_suggestions_setting_keeps_them_off(store: Store, dataset: Path):
    save_run(store, PROBS)
    app = make_app(store, dataset, suggestions=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        await pilot.press("S", "a")
        await pilot.pause(0.05)
        assert line(app) == "" and screen.session.pos == 0
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
    assert events(store) == [("img000.png", "label", "cat", None, None, None)]


async def test_brackets_cycle_orders_and_the_status_names_the_run(store: Store, dataset: Path):
    run = save_run(store, PROBS)
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await pilot.press("]")  # no model yet: unlabeled -> all
        await wait_for(pilot, lambda: screen.session.order == OrderChoice("all"))
        await wait_model(pilot, screen)
        await pilot.press("[")
        await wait_for(pilot, lambda: screen.session.order == OrderChoice("unlabeled"))
        for _ in range(4):  # all, skipped, random, least-confident
            await pilot.press("]")
            await pilot.pause(0.05)
        await wait_for(pilot, lambda: screen.session.order == OrderChoice("least-confident"))
        await wait_shown(pilot, screen, 0)
        assert screen.session.current.path == "img003.png"
        assert f"order: Least confident first · run {run}" in status(app)
        await pilot.press("2")
        await wait_shown(pilot, screen, 1)
    assert labels_by_path(store) == {"img003.png": "dog"}


async def test_a_model_order_from_the_start_and_new_predictions_reorder_behind_the_image(
        store: Store, dataset: Path):
    save_run(store, {p: [0.8, 0.15, 0.05] for p in PROBS})  # all equally sure: path order
    app = make_app(store, dataset, order=OrderChoice("least-confident"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        assert screen.session.current.path == "img000.png"
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
        # A run lands: img000 (labeled) and img007 now look the least sure.
        probs = {p: [0.8, 0.15, 0.05] for p in PROBS}
        probs["img000.png"] = probs["img007.png"] = [0.34, 0.33, 0.33]
        run2 = save_run(store, probs)
        screen._load_model()
        await wait_model(pilot, screen, run2)
        assert screen.session.current.path == "img001.png"  # the image on screen stays
        paths = [it.path for it in screen.session.queue]
        assert paths[:3] == ["img000.png", "img001.png", "img007.png"]
        assert paths.count("img000.png") == 1  # labeled in this session: never again
        await pilot.press("2")
        await wait_shown(pilot, screen, 2)
        await pilot.press("2")
        await wait_shown(pilot, screen, 3)
    assert labels_by_path(store) == {"img000.png": "cat", "img001.png": "dog",
                                     "img007.png": "dog"}


async def test_relabel_and_confirm_from_the_suspect_queue(store: Store, dataset: Path):
    ids = {r[1]: r[0] for r in store.queue_rows()}
    for path, name in (("img001.png", "cat"), ("img002.png", "dog"), ("img004.png", "cat")):
        store.label(ids[path], cid(store, name))
    run = save_run(store, PROBS, suspects=[("img001.png", "cat", "dog", 0.85, 0.1),
                                           ("img002.png", "dog", "cat", 0.8, 0.15)])
    app = make_app(store, dataset, order=OrderChoice("suspects"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        assert [it.path for it in screen.session.queue] == ["img001.png", "img002.png"]
        assert "given cat · model says dog 85%" in line(app)
        await pilot.press("2")  # relabel img001: the model was right
        await wait_shown(pilot, screen, 1)
        assert "given dog · model says cat 80%" in line(app)
        await pilot.press("equals_sign")  # img002 stays a dog, reviewed
        await wait_for(pilot, lambda: screen.session.pos == 2)
        assert store.suspects(run) == []
    assert events(store)[-2:] == [("img001.png", "label", "dog", None, None, None),
                                  ("img002.png", "label", "dog", "review", None, run)]
    assert labels_by_path(store) == {"img001.png": "dog", "img002.png": "dog",
                                     "img004.png": "cat"}


def add_metrics(store: Store, run_id: int, confusion: list[list[int]]) -> None:
    names = [c.name for c in store.classes() if c.hotkey]
    store.add_epoch(run_id, 1, train_loss=0.5, val_loss=0.6, report=report(confusion,
                    names).to_dict(), seconds=1.0, images_per_sec=10.0)


async def test_confusion_cell_by_keys_opens_its_images(store: Store, dataset: Path):
    ids = {r[1]: r[0] for r in store.queue_rows()}
    cat = cid(store, "cat")
    for path in ("img000.png", "img001.png", "img002.png", "img003.png"):
        store.label(ids[path], cat)
    # Out of sample, img001 and img003 look like dogs; img000 like a cat.
    run = save_run(store, PROBS, oof={"img000.png": [0.9, 0.05, 0.05],
                                      "img001.png": [0.2, 0.7, 0.1],
                                      "img003.png": [0.1, 0.6, 0.3]})
    add_metrics(store, run, [[2, 2, 0], [0, 3, 0], [0, 0, 1]])
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen))
        await pilot.press("enter")  # the keys go to the matrix
        await pilot.press("right", "enter")  # true cat, predicted dog
        await wait_for(pilot, lambda: screen.session.order.name == "confusion")
        assert app.screen is screen
        assert screen.session.order == OrderChoice("confusion", cat, cid(store, "dog"))
        assert [it.path for it in screen.session.queue] == ["img001.png", "img003.png"]
        await wait_shown(pilot, screen, 0)
        assert "Labeled cat, predicted dog" in status(app)
        assert [str(n.message) for n in app._notifications][-1].startswith(
            "cat → dog: 2 labeled images by the out-of-sample predictions")
        await pilot.press("2")  # it was a dog after all
        await wait_shown(pilot, screen, 1)
    assert labels_by_path(store)["img001.png"] == "dog"


async def test_confusion_cell_by_mouse_in_the_panel(store: Store, dataset: Path):
    ids = {r[1]: r[0] for r in store.queue_rows()}
    dog = cid(store, "dog")
    store.label(ids["img000.png"], dog)  # the model calls img000 a cat
    run = save_run(store, PROBS)
    add_metrics(store, run, [[3, 0, 0], [1, 3, 0], [0, 0, 1]])
    app = make_app(store, dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        await pilot.press("t")
        await pilot.pause()
        matrix = app.screen.query_one("#train-panel #confusion", ConfusionView)
        matrix.scroll_visible(animate=False)
        await pilot.pause()
        # Row "dog" (second), column "cat" (first): below the title and the header line.
        x = matrix._row_label + 1 + matrix._cell - 1
        assert matrix.cell_at(x, 3) == (1, 0)
        await pilot.click(matrix, offset=(x, 3))
        # The panel's matrix is the validation split's: M shows the cell by the predictions.
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen))
        assert app.screen.query_one(ConfusionView).cursor == (1, 0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.session.order.name == "confusion")
        assert screen.session.order == OrderChoice("confusion", dog, cid(store, "cat"))
        assert [it.path for it in screen.session.queue] == ["img000.png"]
        await wait_shown(pilot, screen, 0)
        await pilot.press("1")
        await wait_for(pilot, lambda: screen.session.pos == 1)  # the end of this queue
    assert labels_by_path(store) == {"img000.png": "cat"}


async def test_confusion_without_predictions_is_a_notice(store: Store, dataset: Path):
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        screen.drill_down("cat", "dog")
        await pilot.pause()
        assert screen.session.order == OrderChoice("unlabeled") and app.is_running


async def test_auto_retrain_fires_after_n_labels_while_keys_keep_labeling(
        store: Store, dataset: Path, tmp_path: Path, monkeypatch):
    import tui_label.runs.controller as training

    gate = tmp_path / "gate"
    probs = {p: [0.1, 0.2, 0.7] for p in PROBS}  # the model will say bird
    started = []

    def fake_command(opts):
        started.append(opts)
        fake = Path(__file__).parents[1] / "helpers" / "fake_trainer.py"
        return [sys.executable, str(fake), str(opts.db), str(gate), json.dumps(probs)]

    monkeypatch.setattr(training, "trainer_command", fake_command)
    app = make_app(store, dataset, auto_train=3)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        for i, key in enumerate("12"):
            await wait_shown(pilot, screen, i)
            await pilot.press(key)
        await wait_shown(pilot, screen, 2)
        assert started == []
        await pilot.press("1")  # the third new label: a run starts
        await wait_for(pilot, lambda: len(started) == 1, "the run")
        assert started[0].db == store.path
        for i, key in enumerate("2121", start=3):  # the run goes on; labeling too
            await wait_shown(pilot, screen, i)
            await pilot.press(key)
        await wait_shown(pilot, screen, 7)
        assert len(started) == 1  # one run at a time
        assert screen.session.model is None
        gate.touch()  # the run finishes: its predictions land
        await wait_model(pilot, screen)
        await wait_for(pilot, lambda: "bird 70%" in line(app), "the suggestion")
        assert screen.session.current.path == "img007.png"
        await pilot.press("a")
        await wait_shown(pilot, screen, 8)
        await wait_for(pilot, lambda: not screen.training.state.active, "the run's end")
        await pilot.press("1")
        await wait_shown(pilot, screen, 9)
        # 3 labels since the first run started (2 typed before the model + the accept + 1):
        await wait_for(pilot, lambda: len(started) == 2, "the second run")
        gate.touch()
    labels = labels_by_path(store)
    assert [labels[f"img{i:03d}.png"] for i in range(9)] == [
        "cat", "dog", "cat", "dog", "cat", "dog", "cat", "bird", "cat"]
    assert events(store)[7][3] == "suggestion"


async def test_live_head_refit_after_n_labels_updates_the_suggestions(tmp_path: Path):
    from tests.helpers.data import make_images
    from tui_label.media.scan import scan

    root = tmp_path / "data"
    make_images(root, 12)
    store = Store(tmp_path / "x.db", annotator="tester")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("bird", "3")])
    store.sync_images(scan(root))
    # The run says bird for everything; its embeddings hold two clear clusters.
    emb = {f"img{k:03d}.png": ([0.0, 1.0] if k % 2 else [1.0, 0.0]) for k in range(12)}
    save_run(store, {p: [0.1, 0.1, 0.8] for p in emb}, embeddings=emb)
    app = make_app(store, root, live_head_every=4)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        for i, key in enumerate("1212"):
            await wait_shown(pilot, screen, i)
            await pilot.press(key)
        await wait_for(pilot, lambda: screen.session.model.live is not None, "the live head")
        await wait_shown(pilot, screen, 4)
        assert "live head · 4 labels" in line(app)
        text = line(app)  # img004 is in the cat cluster; the run's "bird" has no say now
        assert text.index("cat") < text.index("dog")
        assert "bird" not in text
        await pilot.press("a")
        await wait_shown(pilot, screen, 5)
    assert events(store)[-1][:4] == ("img004.png", "label", "cat", "suggestion")
    store.close()


async def test_a_slow_ranking_of_an_earlier_order_never_overrides_a_later_choice(
        store: Store, dataset: Path, monkeypatch):
    import threading

    import tui_label.labeling.jobs as background

    save_run(store, PROBS)
    gates = {name: threading.Event() for name in ("least-confident", "margin")}
    rank = background.rank

    def gated(db, order, model, **kwargs):
        ranked = rank(db, order, model, **kwargs)
        gates[order.name].wait(10)
        return ranked

    monkeypatch.setattr(background, "rank", gated)
    app = make_app(store, dataset, order=OrderChoice("random"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        await pilot.press("]")  # least-confident: ranked in the background, held
        await pilot.pause(0.05)
        await pilot.press("]")  # margin: ranked too, held
        await pilot.pause(0.05)
        gates["margin"].set()
        await wait_for(pilot, lambda: screen.session.order.name == "margin")
        gates["least-confident"].set()  # the earlier choice's ranking lands last
        await pilot.pause(0.3)
        assert screen.session.order.name == "margin"
        await wait_shown(pilot, screen, 0)
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
    assert labels_by_path(store) == {"img003.png": "cat"}  # the smallest margin first


async def test_hostile_class_names_in_the_suggestions_and_a_stale_model(tmp_path: Path):
    from tests.helpers.app import HOSTILE
    from tests.helpers.data import make_images
    from tui_label.media.scan import scan

    root = tmp_path / "data"
    make_images(root, 4)
    store = Store(tmp_path / "x.db", annotator="tester")
    names = HOSTILE[:3]
    store.set_classes([ClassSpec(n, str(k + 1)) for k, n in enumerate(names)])
    store.sync_images(scan(root))
    ids = {r[1]: r[0] for r in store.queue_rows()}
    store.label(ids["img001.png"], cid(store, names[0]))
    save_run(store, {f"img{i:03d}.png": [0.6, 0.3, 0.1] for i in range(4)},
             suspects=[("img001.png", names[0], names[1], 0.7, 0.2)])
    # A class added since the run: the model is stale, and says so.
    store.set_classes([ClassSpec(n, str(k + 1)) for k, n in enumerate([*names, "[i]new"])])
    app = make_app(store, root)
    async with app.run_test(size=(160, 34)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        text = line(app)
        assert f"{names[0]} 60% · {names[1]} 30% · {names[2]} 10%" in text
        assert "classes changed" in text
        screen.set_order(OrderChoice("suspects"))
        await wait_for(pilot, lambda: screen.session.order.name == "suspects")
        await wait_shown(pilot, screen, 0)
        assert f"given {names[0]} · model says {names[1]} 70%" in line(app)
        await pilot.press("equals_sign")
        await wait_for(pilot, lambda: screen.session.pos == 1)
    assert events(store)[-1][1:4] == ("label", names[0], "review")
    store.close()


async def test_damaged_predictions_are_one_notice_no_suggestions_and_no_crash(
        store: Store, dataset: Path):
    from tui_label.assist.model_view import run_predictions_dir

    run = save_run(store, PROBS)
    (run_predictions_dir(store.path, run) / "probs.npy").write_bytes(b"not an array")
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        shown: list[str] = []
        screen = app.label_screen
        notify = screen.notify
        screen.notify = lambda message, **kw: (shown.append(str(message)), notify(message, **kw))
        await wait_shown(pilot, screen, 0)
        await wait_for(pilot, lambda: shown, "the notice")
        for _ in range(3):  # the periodic check finds the same predictions: said once
            screen._load_model()
            await pilot.pause(0.1)
        assert shown == [f"the predictions of run {run} are damaged "
                         f"({run_predictions_dir(store.path.resolve(), run)}): no suggestions"]
        # The toast itself is drawn (a rich Text as the message crashed the app there, in a
        # real terminal: Textual reads a notification's message as markup).
        await pilot.pause(0.2)
        assert "are&#160;damaged" in app.export_screenshot()
        assert screen.session.model is None and line(app) == ""
        await pilot.press("a")  # nothing to accept
        await pilot.press("1")
        await wait_shown(pilot, screen, 1)
        assert app.is_running
    assert labels_by_path(store) == {"img000.png": "cat"}


async def test_predicting_the_same_run_again_reloads_it(store: Store, dataset: Path):
    import numpy as np

    from tui_label.assist.model_view import run_predictions_dir
    from tui_label.assist.predictions import PredictionSet, top_k_rows

    run = save_run(store, PROBS)
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        assert "cat 80%" in line(app)
        # tui-label predict --run N: new arrays and rows for the same run.
        ids = np.array(sorted(r[0] for r in store.queue_rows()), dtype=np.int64)
        probs = np.tile(np.array([[0.1, 0.2, 0.7]], dtype=np.float32), (len(ids), 1))
        PredictionSet(ids, probs, ["cat", "dog", "bird"]).save(run_predictions_dir(store.path,
                                                                                   run))
        store.save_predictions(run, "model", top_k_rows(ids, probs, [c.id for c in
                                                                     store.classes()]))
        screen._load_model()
        await wait_for(pilot, lambda: "bird 70%" in line(app), "the new predictions")
        assert screen.session.model.run_id == run


@pytest.mark.parametrize("order", ["least-confident", "unlabeled"])
async def test_the_image_fits_the_area_left_by_the_suggestions_line(store: Store, dataset: Path,
                                                                   order: str):
    """The line takes a row from the image: loaded at start (a model order) or after the first
    image (the model comes in the background), the picture is sized to what is left."""
    from tui_label.tui.widgets.image_view import ImageView

    save_run(store, PROBS)
    app = make_app(store, dataset, order=OrderChoice(order))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_model(pilot, screen)
        await wait_shown(pilot, screen, 0)
        await pilot.pause()
        assert line(app)
        area = app.screen.query_one(ImageView).content_size
        picture = app.screen.query_one("#picture")
        assert picture.styles.height.value == picture.size.height == area.height

"""The confusion matrix says where its counts come from, and every cell with a count opens a
queue of that many images: ``M`` counts the labeled images by the same predictions the
``confusion`` order ranks by (out of sample where there are), not a validation split at an
epoch that no order can list."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.app import make_app, wait_shown
from tests.helpers.fake_model import save_run
from tests.helpers.panel import add_epochs
from tui_label.core.orders import OrderChoice
from tui_label.store import Store
from tui_label.tui.screens.metrics import MetricsScreen
from tui_label.tui.widgets.metrics_view import ConfusionView

SIZE = (140, 44)
CAT, DOG, BIRD = [0.8, 0.15, 0.05], [0.1, 0.85, 0.05], [0.1, 0.2, 0.7]
PROBS = {f"img{i:03d}.png": [CAT, DOG, BIRD][i % 3] for i in range(12)}
LABELS = {"img000.png": "cat", "img001.png": "cat", "img002.png": "bird", "img003.png": "cat",
          "img004.png": "dog", "img005.png": "dog", "img006.png": "bird", "img007.png": "bird"}
# Out of sample, img000 looks like a dog, img006 like a cat.
OOF = {"img000.png": DOG, "img001.png": DOG, "img003.png": CAT, "img006.png": CAT}
# A validation split of another shape altogether (epoch 2 is the best).
VALIDATION = [[[1, 0, 2], [0, 1, 0], [1, 0, 0]], [[2, 0, 1], [0, 1, 0], [0, 1, 1]]]


async def wait_for(pilot, condition, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"{what} never happened")


def labeled(store: Store) -> int:
    ids = {r[1]: r[0] for r in store.queue_rows()}
    classes = {c.name: c.id for c in store.classes()}
    for path, name in LABELS.items():
        store.label(ids[path], classes[name])
    run = save_run(store, PROBS, oof=OOF)
    add_epochs(store, run, VALIDATION)
    return run


def shown(widget) -> str:
    return str(widget.render())


async def open_metrics(pilot, app) -> ConfusionView:
    await pilot.press("M")
    await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen), "M")
    await pilot.pause()
    return app.screen.query_one(ConfusionView)


async def test_every_cell_with_a_count_opens_that_many_images(store: Store, dataset: Path):
    run = labeled(store)
    names = {c.name: c.id for c in store.classes()}
    app = make_app(store, dataset)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_for(pilot, lambda: screen.session.model is not None, "the model")
        matrix = await open_metrics(pilot, app)
        text = shown(matrix)
        # Where the counts come from: the run, its checkpoint's epoch, which labels.
        assert f"run {run}'s predictions (its best checkpoint, epoch 2)" in text
        assert "the 8 labeled images as labeled now, 4 by out-of-sample" in text
        order = [c.name for c in matrix.report.per_class]
        cells = [(t, p, n) for t, row in enumerate(matrix.report.confusion)
                 for p, n in enumerate(row) if n]
        assert sum(n for _, _, n in cells) == len(LABELS)
        assert len(cells) >= 4  # the diagonal and the errors
        for k, (t, p, n) in enumerate(cells):
            if k:
                matrix = await open_metrics(pilot, app)
            await pilot.press("enter")  # the keys go to the matrix
            matrix.cursor = (t, p)
            await pilot.press("enter")
            want = OrderChoice("confusion", names[order[t]], names[order[p]])
            await wait_for(pilot, lambda want=want: screen.session.order == want, f"cell {t},{p}")
            assert app.screen is screen
            assert len(screen.session.queue) == n, (order[t], order[p])
            await wait_shown(pilot, screen, 0)  # an image, never "No images in this view"


async def test_the_panels_matrix_names_its_run_and_epoch_and_m_opens_its_cells(
        store: Store, dataset: Path):
    run = labeled(store)
    app = make_app(store, dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.label_screen
        await wait_shown(pilot, screen, 0)
        await wait_for(pilot, lambda: screen.session.model is not None, "the model")
        await pilot.press("t")
        await pilot.pause()
        panel_matrix = app.screen.query_one("#train-panel #confusion", ConfusionView)
        assert panel_matrix.report.confusion == VALIDATION[-1]
        caption = shown(panel_matrix)
        assert f"run {run}, epoch 2" in caption
        assert "its validation split (6 images) at that epoch" in caption
        # Its cells are a split no queue lists: choosing one shows it in M, counted by the
        # predictions, the cursor on it.
        panel_matrix.cursor = (0, 1)  # cat predicted dog
        panel_matrix.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MetricsScreen), "M")
        await pilot.pause()
        matrix = app.screen.query_one(ConfusionView)
        assert matrix.has_focus and matrix.cursor == (0, 1)
        count = matrix.report.confusion[0][1]
        assert count == 2  # img000 and img001, by their out-of-sample probabilities
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.session.order.name == "confusion", "the cell")
        assert sorted(it.path for it in screen.session.queue) == ["img000.png", "img001.png"]

"""D in the labeler opens the shown image's duplicates as a grid page of its class: by the
run's embeddings once a run exists, before any run its exact and near copies (fingerprints);
enter labels the group together."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers.app import labels_by_path, make_app, wait_shown
from tests.helpers.fake_model import save_run
from tests.helpers.images import noise, smooth
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store
from tui_label.tui.screens.grid import GridScreen


async def wait_grid(pilot, app) -> GridScreen:
    for _ in range(500):
        if isinstance(app.screen, GridScreen) and app.screen.grid.drawn == 0:
            return app.screen
        await pilot.pause(0.01)
    raise AssertionError("no grid page drawn")


async def test_d_opens_the_groups_unlabeled_images_as_a_page_of_its_suggestion(
        store: Store, dataset: Path):
    dog = store.classes()[1]
    paths = sorted(store.image_ids())
    n = len(paths)
    emb = {p: [float(j == k) for j in range(n)] for k, p in enumerate(paths)}
    for p in (paths[4], paths[7]):
        emb[p] = emb[paths[0]]  # the first image's copies, by the model
    store.label(store.image_ids()[paths[7]], store.classes()[0].id)  # one labeled cat
    save_run(store, {p: [0.05, 0.9, 0.05] for p in paths}, embeddings=emb)
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_shown(pilot, app.label_screen, 0)
        assert app.label_screen.session.current.path == paths[0]
        await pilot.press("D")
        screen = await wait_grid(pilot, app)
        assert screen.title_text == (f"Duplicates of {paths[0]}: 3 images, by the model's "
                                     "embeddings")
        assert [c.item.path for c in screen.grid.page.cells] == [paths[0], paths[4]]
        assert screen.grid.page.class_id == dog.id  # the suggestion; the labeled copy is out
        await pilot.press("enter")
        labels = labels_by_path(store)
        assert (labels[paths[0]], labels[paths[4]], labels[paths[7]]) == ("dog", "dog", "cat")
        assert sum(v is not None for v in labels.values()) == 3


async def test_before_any_run_d_finds_exact_and_near_copies(tmp_path: Path):
    root = tmp_path / "photos"
    root.mkdir()
    for k in range(6):
        noise((48, 36), seed=k).save(root / f"b{k}.png")
    smooth((48, 36), seed=9).save(root / "a.png")  # shown first
    shutil.copy(root / "a.png", root / "c_copy.png")  # the same bytes
    smooth((48, 36), seed=9).resize((96, 72)).save(root / "d_larger.jpg", quality=90)  # near
    store = Store(tmp_path / "labels.db", annotator="tester")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2")])
    store.sync_images(scan(root))
    app = make_app(store, root)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_shown(pilot, app.label_screen, 0)
            assert app.label_screen.session.current.path == "a.png"
            await pilot.press("D")
            screen = await wait_grid(pilot, app)
            assert screen.title_text == "Duplicates of a.png: 3 images, exact or near copies"
            assert [c.item.path for c in screen.grid.page.cells] == [
                "a.png", "c_copy.png", "d_larger.jpg"]
            await pilot.press("escape")
            await pilot.pause(0.05)
            await wait_shown(pilot, app.label_screen, 0)
            await pilot.press("right")  # b0.png: a picture of its own
            await wait_shown(pilot, app.label_screen, 1)
            await pilot.press("D")
            for _ in range(200):
                await pilot.pause(0.01)
            assert app.screen is app.label_screen  # no grid: nothing to label together
    finally:
        store.close()

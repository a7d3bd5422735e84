"""The grid review in the app: G opens pages of thumbnails, a cell key leaves a cell out,
enter labels the rest as the page's class (suggested by the model), u takes the page back,
escape returns to the labeler with the labeled images out of its queue."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.app import labels_by_path, make_app, wait_shown
from tests.helpers.fake_model import save_run
from tests.helpers.images import noise
from tui_label.media.scan import scan
from tui_label.store import Store
from tui_label.tui.screens.grid import GridCell, GridScreen


async def wait_model(pilot, app) -> None:
    """Until the labeler has the run's suggestions (loaded in a thread after its first image:
    G pressed before that opens pages without a class)."""
    for _ in range(500):
        if app.label_screen.session.model is not None:
            return
        await pilot.pause(0.01)
    raise AssertionError("the run's predictions never loaded")


async def wait_drawn(pilot, screen: GridScreen, number: int) -> None:
    for _ in range(500):
        if screen.grid.drawn == number:
            return
        await pilot.pause(0.01)
    raise AssertionError(f"page {number} never drawn")


async def open_grid(pilot, app) -> GridScreen:
    """G once the first image and the run's suggestions are in; the grid's first page drawn."""
    await wait_shown(pilot, app.label_screen, 0)
    await wait_model(pilot, app)
    await pilot.press("G")
    screen = app.screen
    assert isinstance(screen, GridScreen)
    await wait_drawn(pilot, screen, 0)
    return screen


def with_model(store: Store) -> None:
    """A run that says dog for every image (p 0.9)."""
    names = [c.name for c in store.classes()]
    dog = [0.05, 0.9, 0.05] if names == ["cat", "dog", "bird"] else None
    save_run(store, {path: dog for path in store.image_ids()})


async def test_a_page_is_labeled_with_one_key_and_undone_with_another(store: Store,
                                                                     dataset: Path):
    with_model(store)
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_shown(pilot, app.label_screen, 0)
        await wait_model(pilot, app)
        await pilot.press("G")
        screen = app.screen
        assert isinstance(screen, GridScreen) and (screen.cols, screen.rows) == (4, 3)
        assert screen.grid.page.class_id == store.classes()[1].id  # the suggestions say dog
        await wait_drawn(pilot, screen, 0)
        cells = [c for c in screen.query(GridCell) if c.display]
        assert len(cells) == 12
        first = [c.item.path for c in screen.grid.page.cells]
        await pilot.press("w")  # the second cell: out
        assert screen.grid.page.cells[1].out and cells[1].has_class("out")
        await pilot.press("enter")
        labels = labels_by_path(store)
        assert [labels.get(p) for p in first] == ["dog", None] + ["dog"] * 10
        await pilot.press("u")
        await pilot.pause(0.05)
        assert all(labels_by_path(store).get(p) is None for p in first)
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert app.screen is app.label_screen


async def test_keys_before_the_page_is_drawn_label_nothing(store: Store, dataset: Path):
    with_model(store)
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_shown(pilot, app.label_screen, 0)
        await pilot.press("G", "enter")  # enter arrives with the page still being drawn
        screen = app.screen
        assert isinstance(screen, GridScreen)
        if screen.grid.drawn is None:  # the refusal is visible, nothing labeled
            assert "not on screen yet" in str(screen.query_one("#grid-notice").render())
        labeled = sum(v is not None for v in labels_by_path(store).values())
        assert labeled in (0, 12)  # never a page that was not drawn
        assert labeled == 0 or screen.grid.drawn is not None


async def test_returning_to_the_labeler_leaves_the_grid_labeled_images_out(store: Store,
                                                                          dataset: Path):
    for n in range(6):  # 18 images: one page of 12 and 6 more
        noise((32, 24), seed=n).save(dataset / f"more{n}.png")
    store.sync_images(scan(dataset))
    with_model(store)
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_grid(pilot, app)
        await pilot.press("enter", "escape")
        await pilot.pause(0.1)
        session = app.label_screen.session
        labeled = {p for p, c in labels_by_path(store).items() if c is not None}
        assert len(labeled) == 12
        assert session.current is not None and session.current.path not in labeled
        assert session.counts.labeled == 12


async def test_more_like_this_opens_the_look_alikes_as_a_page_of_its_class(store: Store,
                                                                          dataset: Path):
    cat = store.classes()[0]
    paths = sorted(store.image_ids())
    # The first image and three others point one way; the rest each their own way.
    emb = {p: [float(k == n) for k in range(len(paths))] for n, p in enumerate(paths)}
    for p in paths[:4]:
        emb[p] = [1.0] + [0.0] * (len(paths) - 1)
    save_run(store, {p: [0.9, 0.05, 0.05] for p in paths}, embeddings=emb)
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_shown(pilot, app.label_screen, 0)
        shown = app.label_screen.session.current
        await wait_model(pilot, app)
        await pilot.press("L")
        screen = app.screen
        assert isinstance(screen, GridScreen)
        assert screen.title_text == f"More like {shown.path}"
        first = [c.item.path for c in screen.grid.page.cells]
        assert set(first[:3]) == set(paths[1:4])  # the three look-alikes lead
        assert shown.path not in first and screen.grid.page.class_id == cat.id


async def test_a_cluster_is_reviewed_as_grid_pages_of_its_predicted_class(store: Store,
                                                                         dataset: Path):
    from tui_label.tui.screens.clusters import ClustersScreen

    cat, dog = store.classes()[0], store.classes()[1]
    paths = sorted(store.image_ids())
    # Eight images one way, predicted cat; four another, predicted dog; one cat labeled.
    emb = {p: ([1.0, 0.01 * n] if n < 8 else [0.01 * n, 1.0]) for n, p in enumerate(paths)}
    probs = {p: ([0.9, 0.05, 0.05] if n < 8 else [0.05, 0.9, 0.05]) for n, p in enumerate(paths)}
    save_run(store, probs, embeddings=emb)
    store.label(store.image_ids()[paths[0]], cat.id)
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_shown(pilot, app.label_screen, 0)
        await wait_model(pilot, app)
        await pilot.press("C")
        for _ in range(3000):  # k-means in the live head's process: slow to start when busy
            if isinstance(app.screen, ClustersScreen):
                break
            await pilot.pause(0.01)
        picker = app.screen
        assert isinstance(picker, ClustersScreen)
        assert [(c.predicted, c.labeled) for c in picker.clusters][:1] == [("cat", 1)]
        assert sum(c.size for c in picker.clusters) == 12
        await pilot.press("enter")
        await pilot.pause(0.05)
        grid = app.screen
        assert isinstance(grid, GridScreen) and grid.grid.page.class_id == cat.id
        shown = {c.item.path for c in grid.grid.page.cells}
        assert paths[0] not in shown and shown <= set(paths[1:8])
        assert grid.title_text.startswith("Cluster 1:")
        assert dog.id not in {grid.grid.page.class_id}


async def test_a_page_larger_than_the_labelers_decode_cache_is_drawn(store: Store,
                                                                    dataset: Path):
    for n in range(40):  # 52 images: pages of 24 at 160x48, the next one decoded ahead
        noise((32, 24), seed=100 + n).save(dataset / f"big{n:02d}.png")
    store.sync_images(scan(dataset))
    with_model(store)
    app = make_app(store, dataset)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_shown(pilot, app.label_screen, 0)
        await wait_model(pilot, app)
        await pilot.press("G")
        screen = app.screen
        assert (screen.cols, screen.rows) == (6, 4)
        await wait_drawn(pilot, screen, 0)
        await pilot.press("right_square_bracket")
        await wait_drawn(pilot, screen, 1)
        assert len(screen.grid.page.cells) == 24


async def test_the_app_opens_in_the_grid_with_grid(store: Store, dataset: Path):
    with_model(store)
    app = make_app(store, dataset, grid=True)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(300):
            if isinstance(app.screen, GridScreen):
                break
            await pilot.pause(0.01)
        assert isinstance(app.screen, GridScreen)
        await wait_drawn(pilot, app.screen, 0)


async def test_the_next_page_is_decoded_for_its_own_cells_and_shown_once(store: Store,
                                                                        dataset: Path,
                                                                        monkeypatch):
    """At 79 columns the cells do not share one width: each of the next page's thumbnails is
    decoded ahead for the cell it will take (a thumbnail made for another size is decoded
    again on the key), and a page is handed to its views once, not once per decoded cell."""
    for n in range(24):  # 36 images: three pages of 12
        noise((32, 24), seed=n).save(dataset / f"more{n}.png")
    store.sync_images(scan(dataset))
    with_model(store)
    from tui_label.tui.widgets.image_view import ImageView

    shown: list[int] = []
    real = ImageView.show_image
    monkeypatch.setattr(ImageView, "show_image",
                        lambda self, decoded: (shown.append(id(self)), real(self, decoded))[1])
    app = make_app(store, dataset)
    async with app.run_test(size=(79, 24)) as pilot:
        screen = await open_grid(pilot, app)
        await pilot.pause(0.2)
        views = [c.query_one(ImageView) for c in screen.query(GridCell)]
        widths = {v.geometry().cols for v in views}
        assert len(widths) == 2  # the screen does not divide evenly
        ahead = screen.grid.ahead()
        assert len(ahead) >= 6
        for item, view in zip(ahead, views, strict=False):
            future = screen.prefetcher._cache.get((item.id, view.geometry()))
            assert future is not None and future.done(), item.path
        grid_views = {id(v) for v in views}
        first = len(screen.grid.page.cells)
        assert sum(v in grid_views for v in shown) == first >= 6  # once per cell
        shown.clear()
        await pilot.press("enter")
        await wait_drawn(pilot, screen, 1)
        await pilot.pause(0.2)
        assert sum(v in grid_views for v in shown) == len(screen.grid.page.cells) >= 6


async def test_a_page_without_a_class_says_how_to_label_it_not_that_enter_will(store: Store,
                                                                            dataset: Path):
    """Before any run no page has a class and enter is refused: the header must not promise
    that enter labels the page "as no class"."""
    app = make_app(store, dataset)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_shown(pilot, app.label_screen, 0)
        await pilot.press("G")
        screen = app.screen
        await wait_drawn(pilot, screen, 0)
        header = str(screen.query_one("#grid-header").render())
        assert "enter labels" not in header and "class keys label the chosen cell" in header
        await pilot.press("enter")
        assert all(v is None for v in labels_by_path(store).values())
        await pilot.press("2")  # dog, on the chosen (first) cell
        first = screen.grid.page.cells[0].item.path
        assert labels_by_path(store)[first] == "dog"

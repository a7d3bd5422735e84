"""The labeling screen's ways into the grid review: a ``GridSession`` on the images ahead in
the current order (``G``), on the look-alikes of one image (``L``, more like this), on one
of the model's clusters (``C``) or on one image's duplicates (``D``), pushed as a
``GridScreen``, and the queue rebuilt when it returns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tui_label.core.types import QueueItem
from tui_label.labeling.duplicates import Fingerprints, duplicate_group
from tui_label.labeling.grid import GridSession, cell_keys, grid_shape
from tui_label.store import Store
from tui_label.tui.screens.clusters import ClustersScreen
from tui_label.tui.screens.grid import GridScreen

if TYPE_CHECKING:
    from tui_label.assist.clusters import Cluster
    from tui_label.assist.model_view import ModelView
    from tui_label.labeling.session import LabelSession
    from tui_label.media.decode import Prefetcher
    from tui_label.tui.widgets.picture import Renderer


class LabelScreen(Protocol):
    """What the grid needs of the labeling screen (``tui/screens/label.py``, which imports
    this module: a Protocol, not an import back)."""

    session: LabelSession
    store: Store
    renderer: Renderer
    prefetcher: Prefetcher
    root: Path
    suggestions_shown: bool

    @property
    def app(self) -> Any: ...

    def notify(self, message: str, **kw: Any) -> Any: ...

    def run_worker(self, work: Any, **kw: Any) -> Any: ...

    def show_current(self) -> None: ...


LIKE_PAGES = 3  # more like this: the look-alikes of three pages


class GridKeys:
    """The labeling screen's grid keys (``core/keys.py``: ``G``, ``L``, ``C`` and ``D``)."""

    def action_grid(self) -> None:
        open_grid(self)  # type: ignore[arg-type]  # mixed into LabelScreen

    def action_more_like_this(self) -> None:
        open_like_this(self, self.stage.shown_id)  # type: ignore[arg-type, attr-defined]

    def action_clusters(self) -> None:
        open_clusters(self)  # type: ignore[arg-type]

    def action_duplicates(self) -> None:
        open_duplicates(self, self.stage.shown_id)  # type: ignore[arg-type, attr-defined]


def _shape(screen: LabelScreen) -> tuple[int, int]:
    size = screen.app.size
    return grid_shape(size.width, size.height, pixels=screen.renderer.name in ("kitty", "sixel"),
                      keys=len(cell_keys(screen.session.classes)))


def open_grid(screen: LabelScreen) -> None:
    """Review the images ahead in the screen's order as pages (``G``)."""
    session, order = screen.session, screen.session.order
    page_class = order.class_id if order.name == "predicted" else None
    _push(screen, session.queue[session.pos:], page_class, session.describe_order())


def open_like_this(screen: LabelScreen, image_id: int | None) -> None:
    """The images ahead most like ``image_id`` by the model's embeddings, as grid pages whose
    class is that image's label (or its top suggestion)."""
    from tui_label.assist.neighbours import nearest  # heavy: numpy

    session, model = screen.session, screen.session.model
    target = model.embeddings([image_id]) if model is not None and image_id else None
    if target is None:
        screen.notify("More like this needs a run with embeddings: train a model first.",
                      severity="warning", timeout=4, markup=False)
        return
    cols, rows = _shape(screen)
    ahead = [it for it in session.queue[session.pos:] if it.id != image_id]
    found = nearest(target[0], [it.id for it in ahead],
                    model.embeddings([it.id for it in ahead]), cols * rows * LIKE_PAGES)
    by_id = {it.id: it for it in ahead}
    path = session.store.image(image_id)["path"]
    _push(screen, [by_id[i] for i, _ in found], _class_of(screen, image_id), f"More like {path}")


def _class_of(screen: LabelScreen, image_id: int) -> int | None:
    """An image's label, else its top suggestion (None: neither): the class of its pages."""
    state = screen.session.store.current(image_id)
    top = screen.session.suggestions(image_id)[:1]
    return state.class_id if state.action == "label" else (top[0][0] if top else None)


_PRINTS: dict[str, Fingerprints] = {}  # per database: fingerprints kept for the session


def open_duplicates(screen: LabelScreen, image_id: int | None) -> None:
    """``image_id``'s duplicates (``labeling.duplicates``: by the run's embeddings, before
    a run exact and near copies) that are not labeled, itself first, as a grid page of its
    label or suggestion; found on a worker thread (the first look before a run reads every
    file)."""
    if image_id is None:
        return
    model, db = screen.session.model, screen.store.path
    prints = _PRINTS.setdefault(str(db), Fingerprints())
    screen.notify("Looking for duplicates…", timeout=2, markup=False)

    def work() -> None:  # a thread worker: the store is opened here, the UI is called back
        with Store(db) as store:
            group, how = duplicate_group(store, screen.root, image_id, model, prints)
            states = {i: store.current(i) for i in group}
            paths = {i: store.image(i)["path"] for i in group}
        todo = [QueueItem(i, paths[i]) for i in group if states[i].action != "label"]
        screen.app.call_from_thread(show, len(group), todo, how, paths[image_id])

    def show(size: int, todo: list[QueueItem], how: str, path: str) -> None:
        if size < 2 or not todo:
            screen.notify(f"No unlabeled duplicates of {path} ({how})." if size > 1 else
                          f"No duplicates of {path} found ({how}).", timeout=4, markup=False)
            return
        _push(screen, todo, _class_of(screen, image_id),
              f"Duplicates of {path}: {size} images, {how}")

    screen.run_worker(work, thread=True, exclusive=True, group="duplicates")


def open_clusters(screen: LabelScreen) -> None:
    """The model's clusters (k-means in the live head's process), in a picker; the chosen
    one's unlabeled images as grid pages of its predicted class."""
    model = screen.session.model
    if model is None or model.predictions.embeddings is None:
        screen.notify("Clusters need a run with embeddings: train a model first.",
                      severity="warning", timeout=4, markup=False)
        return
    screen.notify("Clustering the images…", timeout=2, markup=False)

    def work() -> None:  # a thread worker: the store is opened here, the UI is called back
        with Store(screen.store.path) as store:
            clusters, states = _clusters(store, model)
        screen.app.call_from_thread(show, clusters, states)

    def show(clusters: list[Cluster], states: dict[int, tuple]) -> None:
        def chosen(cluster: Cluster | None) -> None:
            if cluster is None:
                return
            ids = {c.name: c.id for c in screen.session.classes}
            todo = [QueueItem(i, states[i][1]) for i in cluster.image_ids
                    if i in states and states[i][2] != "label"]
            _push(screen, todo, ids.get(cluster.predicted), "Cluster "
                  f"{cluster.number}: {cluster.size} images, {cluster.purity:.0%} predicted "
                  f"{cluster.predicted}")

        screen.app.push_screen(ClustersScreen(clusters), chosen)

    screen.run_worker(work, thread=True, exclusive=True, group="clusters")


def _clusters(store: Store, model: ModelView) -> tuple[list[Cluster], dict[int, tuple]]:
    import numpy as np  # heavy: the labeler starts without numpy

    from tui_label.assist.clusters import cluster_rows, default_clusters, describe
    from tui_label.assist.model_view import embeddings_file

    states = {row[0]: row for row in store.label_states()}
    names = {c.id: c.name for c in store.classes()}
    ids = [i for i in model.predictions.ids.tolist() if i in states]
    rows = model.predictions.rows_of(np.asarray(ids, dtype=np.int64))
    args = (str(embeddings_file(model)), rows, default_clusters(len(ids)))
    assign, distance = (model.runner(cluster_rows, *args) if model.runner is not None
                        else cluster_rows(*args))
    columns = [names.get(c, "?") if c is not None else "?" for c in model.column_classes]
    labels = {i: names[states[i][3]] for i in ids
              if states[i][2] == "label" and states[i][3] in names}
    return describe(ids, assign, distance, model.probs(ids), columns, labels), states


def _push(screen: LabelScreen, queue: list, page_class: int | None, title: str) -> None:
    session = screen.session
    cols, rows = _shape(screen)
    suggest = session.suggestions if screen.suggestions_shown else None
    grid = GridSession(session.store, queue, cols * rows, session.classes,
                       page_class=page_class, suggest=suggest)

    def back(labeled: int | None) -> None:
        if labeled:
            session.live.reset(*session.store.counts_through())
            change = session.set_order(session.order)  # the labeled images leave the queue
            if change.notice:
                screen.notify(change.notice, severity="warning", markup=False)
        screen.show_current()

    screen.app.push_screen(GridScreen(grid, screen.renderer, screen.prefetcher, screen.root,
                                      cols, rows, title=title,
                                      more_like=lambda i: open_like_this(screen, i)), back)

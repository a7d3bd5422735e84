"""The labeling screen's ways into the grid review: a ``GridSession`` on the images ahead in
the current order (``G``), or on the look-alikes of one image (``L``, more like this), pushed
as a ``GridScreen``, and the queue rebuilt when it returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_label.labeling.grid import GridSession, grid_shape
from tui_label.tui.screens.grid import GridScreen

if TYPE_CHECKING:
    from tui_label.tui.screens.label import LabelScreen


LIKE_PAGES = 3  # more like this: the look-alikes of three pages


class GridKeys:
    """The labeling screen's grid keys (``core/keys.py``: ``G`` and ``L``)."""

    def action_grid(self) -> None:
        open_grid(self)  # type: ignore[arg-type]  # mixed into LabelScreen

    def action_more_like_this(self) -> None:
        open_like_this(self, self.stage.shown_id)  # type: ignore[arg-type, attr-defined]


def _shape(screen: LabelScreen) -> tuple[int, int]:
    size = screen.app.size
    return grid_shape(size.width, size.height, pixels=screen.renderer.name in ("kitty", "sixel"))


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
    state = session.store.current(image_id)
    top = session.suggestions(image_id)[:1]
    page_class = state.class_id if state.action == "label" else (top[0][0] if top else None)
    path = session.store.image(image_id)["path"]
    _push(screen, [by_id[i] for i, _ in found], page_class, f"More like {path}")


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

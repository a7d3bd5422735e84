"""The labeling screen's way into the grid review: a ``GridSession`` on the images ahead in
the current order, pushed as a ``GridScreen``, and the queue rebuilt when it returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_label.labeling.grid import GridSession, grid_shape
from tui_label.tui.screens.grid import GridScreen

if TYPE_CHECKING:
    from tui_label.tui.screens.label import LabelScreen


def open_grid(screen: LabelScreen) -> None:
    """Review the images ahead in the screen's order as pages (``g``, ``--grid``)."""
    session = screen.session
    size = screen.app.size
    cols, rows = grid_shape(size.width, size.height,
                            pixels=screen.renderer.name in ("kitty", "sixel"))
    order = session.order
    page_class = order.class_id if order.name == "predicted" else None
    suggest = session.suggestions if screen.suggestions_shown else None
    grid = GridSession(session.store, session.queue[session.pos:], cols * rows,
                       session.classes, page_class=page_class, suggest=suggest)
    title = session.describe_order()

    def back(labeled: int | None) -> None:
        if labeled:
            session.live.reset(*session.store.counts_through())
            change = session.set_order(session.order)  # the labeled images leave the queue
            if change.notice:
                screen.notify(change.notice, severity="warning", markup=False)
        screen.show_current()

    screen.app.push_screen(GridScreen(grid, screen.renderer, screen.prefetcher, screen.root,
                                      cols, rows, title=title), back)

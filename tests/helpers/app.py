"""Shared test helpers, formerly in tests/test_app.py."""

from __future__ import annotations

from pathlib import Path

from tui_label.store import Store
from tui_label.tui.app import LabelApp
from tui_label.tui.screens.label import LabelScreen
from tui_label.tui.widgets.image_view import load_renderer


def labels_by_path(store: Store) -> dict[str, str | None]:
    return {r["path"]: r["class"] for r in store.current_labels()}


def make_app(store: Store, root: Path, **kw) -> LabelApp:
    return LabelApp(store, root, load_renderer("halfcell"), rescan=False, **kw)


async def wait_shown(pilot, screen: LabelScreen, index: int) -> None:
    """Wait until the queue item at ``index`` is on screen."""
    for _ in range(500):
        queue = screen.session.queue
        item = queue[index] if index < len(queue) else None
        if item is not None and screen.stage.shown_id == item.id and screen.session.pos == index:
            return
        await pilot.pause(0.01)
    raise AssertionError(f"image {index} never shown")


HOSTILE = ["[/]", "[red", "[b]x", "a]b", "\\[", "[link=x]y[/link]"]

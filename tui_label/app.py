"""The Textual application: opens the labeling screen on a store and a dataset root."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widget import Widget

from tui_label.images import Prefetcher
from tui_label.screens.label import LabelScreen
from tui_label.store import Store


class LabelApp(App):
    """tui-label's app. ``renderer`` is a textual-image widget class (see ``load_renderer``)."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-label"

    def __init__(
        self,
        store: Store,
        root: Path,
        renderer: type[Widget],
        *,
        order: tuple[str, int | None] = ("unlabeled", None),
        rescan: bool = True,
        prefetcher: Prefetcher | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.label_screen = LabelScreen(
            store, root, renderer, order=order, rescan=rescan, prefetcher=prefetcher
        )

    def on_mount(self) -> None:
        self.sub_title = str(self.store.path)
        self.push_screen(self.label_screen)

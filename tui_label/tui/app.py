"""The Textual application: opens the labeling screen on a store and a dataset root."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from tui_label.config.labeler import DEFAULTS
from tui_label.core.orders import OrderChoice
from tui_label.media.decode import Prefetcher
from tui_label.store import Store
from tui_label.tui import renderers, styles
from tui_label.tui.screens.label import LabelScreen
from tui_label.tui.widgets.picture import Renderer


class LabelApp(App):
    """tui-label's app. ``renderer`` comes from ``load_renderer`` (before the app starts);
    ``truecolor``: 24-bit colour where ``COLORTERM`` does not ask for it (``load_terminal``
    tells)."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-label"

    def __init__(
        self,
        store: Store,
        root: Path,
        renderer: Renderer,
        *,
        order: OrderChoice | None = None,
        rescan: bool = True,
        prefetcher: Prefetcher | None = None,
        suggestions: bool = DEFAULTS.suggestions,
        live_head_every: int = DEFAULTS.live_head_every,
        auto_train: int = DEFAULTS.auto_train,
        overlap: float = 0.0,
        truecolor: bool = False,
        grid: bool = False,
    ) -> None:
        # kitty graphics read the terminal's replies through their own driver
        super().__init__(driver_class=getattr(renderer.widget, "driver_class", None))
        renderers.install_sgr()  # colour codes only where colours change: fewer bytes over SSH
        if truecolor:  # the terminal takes 24-bit colour, COLORTERM notwithstanding
            renderers.use_truecolor(self.console)
        self.store = store
        self.grid = grid  # --grid: the grid review opens once the first image is drawn
        self.label_screen = LabelScreen(
            store, root, renderer, order=order, rescan=rescan, prefetcher=prefetcher,
            suggestions=suggestions, live_head_every=live_head_every, auto_train=auto_train,
            overlap=overlap,
        )

    def get_default_screen(self) -> LabelScreen:
        # The labeling screen is the base screen, not pushed over Textual's blank default:
        # every refresh of a screen underneath repaints the whole screen above it, image
        # included (hundreds of kilobytes of sixel, over SSH).
        return self.label_screen

    def on_mount(self) -> None:
        self.sub_title = str(self.store.path)
        if self.console.color_system == "standard":
            # 16 colours (TERM=xterm, no COLORTERM): the theme's shades would fall to the
            # nearest of them (light grey on grey, red on grey); the terminal's own palette
            # is what its user made readable (styles.ANSI_THEME: on a light or a dark one).
            self.register_theme(styles.ANSI_THEME)
            self.theme = styles.ANSI_THEME.name
        if self.grid:
            self._grid_timer = self.set_interval(0.05, self._open_grid)

    def _open_grid(self) -> None:
        """``--grid``: the grid on the labeler's order, after its first image is drawn (the
        queue is built and the images ahead are known) and the latest run's suggestions are
        in (a page's class comes from them), or at once on an empty queue."""
        screen = self.label_screen
        if not screen.is_mounted:
            return
        look = screen.model_look  # the first image's look for the latest run, in a thread
        model_in = ((look is None or look.is_finished)
                    and screen.models_taken >= screen.models_posted)
        if (screen.stage.painted and model_in) or screen.session.current is None:
            self._grid_timer.stop()
            self.label_screen.action_grid()


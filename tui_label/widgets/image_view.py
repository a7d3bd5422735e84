"""The image area: one textual-image widget sized to fit, or a centred message."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.widget import Widget
from textual.widgets import Static

from tui_label.images import Decoded, Geometry
from tui_label.widgets.picture import (
    HalfcellPicture,
    LibraryPicture,
    Renderer,
    SixelPicture,
    halfcell_strips,
    sixel_data,
)


def load_renderer(name: str) -> Renderer:
    """The renderer for ``name`` (auto, kitty, sixel, halfcell, unicode).

    Importing ``textual_image.widget`` probes the terminal (sixel and kitty support, cell size
    in pixels) by writing to it and reading the reply, which is impossible once Textual owns
    the terminal: call this before ``App.run()``.
    """
    from textual_image import widget as ti
    from textual_image._terminal import get_cell_size
    from textual_image.renderable import Image as Detected

    if name == "auto":
        name = {ti.SixelRenderable: "sixel", ti.TGPRenderable: "kitty",
                ti.HalfcellRenderable: "halfcell"}.get(Detected, "unicode")
    cell = get_cell_size()
    if name == "halfcell":
        return Renderer("halfcell", HalfcellPicture, halfcell_strips, (1, 2))
    if name == "sixel":
        return Renderer("sixel", SixelPicture, sixel_data, (cell.width, cell.height))
    if name == "kitty":
        # our own: direct placements (kitty before 0.28 too) and images uploaded ahead
        from tui_label.kitty import prepare as kitty_prepare
        from tui_label.widgets.kitty_picture import KittyPicture

        return Renderer("kitty", KittyPicture, kitty_prepare, (cell.width, cell.height))
    if name == "unicode":
        return Renderer("unicode", LibraryPicture(ti.UnicodeImage), None, (1, 1))
    raise ValueError(f"unknown renderer {name!r}")


def terminal_cell_size() -> tuple[int, int]:
    from textual_image._terminal import get_cell_size

    size = get_cell_size()
    return size.width, size.height


class ImageView(Widget):
    """Shows a decoded image as large as its area allows, or a message in its place."""

    DEFAULT_CSS = """
    ImageView { height: 1fr; width: 1fr; }
    ImageView Center { height: 1fr; }
    ImageView Middle { width: 1fr; }
    ImageView #message { width: auto; text-align: center; color: $text-muted; }
    """

    def __init__(self, renderer: Renderer, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._renderer = renderer
        self._cell = terminal_cell_size()
        self._density = renderer.density

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static("", id="message")
            yield self._renderer.widget(id="picture")

    def geometry(self) -> Geometry | None:
        """The area available for an image, or None before the first layout."""
        size = self.content_size
        if size.width < 1 or size.height < 1:
            return None
        return Geometry(size.width, size.height, self._cell, self._density)

    def show_image(self, decoded: Decoded) -> None:
        picture = self.query_one("#picture")
        if getattr(picture, "fills_area", False):
            picture.cells = decoded.cells  # it places the image centred: no relayout
        else:
            picture.styles.width, picture.styles.height = decoded.cells
        prepared = decoded.prepared
        if prepared is None and self._renderer.prepare is not None:
            prepared = self._renderer.prepare(decoded.image)  # not prefetched: do it now
        picture.show(decoded.image, prepared)  # type: ignore[attr-defined]
        picture.display = True
        self.query_one("#message").display = False

    def prefetched(self, futures: list) -> None:
        """The decodes of the next images, nearest first (kitty graphics uploads them)."""
        picture = self.query_one("#picture")
        if hasattr(picture, "prefetched"):
            picture.prefetched(futures)

    def show_message(self, text: str) -> None:
        picture = self.query_one("#picture")
        picture.display = False
        message = self.query_one("#message", Static)
        message.update(Text(text))  # paths are user data: never markup
        message.display = True

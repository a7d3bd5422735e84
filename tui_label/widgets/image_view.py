"""The image area: one textual-image widget sized to fit, or a centred message."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.widget import Widget
from textual.widgets import Static

from tui_label.images import Decoded, Geometry



def load_renderer(name: str) -> type[Widget]:
    """Return textual-image's widget class for ``name``.

    Importing ``textual_image.widget`` probes the terminal (sixel and kitty support, cell size
    in pixels) by writing to it and reading the reply, which is impossible once Textual owns
    the terminal: call this before ``App.run()``.
    """
    from textual_image import widget as ti

    classes: dict[str, type[Widget]] = {
        "auto": ti.Image,
        "kitty": ti.TGPImage,
        "sixel": ti.SixelImage,
        "halfcell": ti.HalfcellImage,
        "unicode": ti.UnicodeImage,
    }
    return classes[name]


def renderer_density(widget_class: type[Widget]) -> tuple[int, int]:
    """Image pixels per terminal cell for a textual-image widget class."""
    from textual_image import widget as ti
    from textual_image._terminal import get_cell_size
    from textual_image.renderable.halfcell import Image as Halfcell
    from textual_image.renderable.unicode import Image as Unicode

    renderable = getattr(widget_class, "_Renderable", None)
    if widget_class is ti.SixelImage or renderable is ti.TGPRenderable:
        size = get_cell_size()
        return size.width, size.height
    if renderable is Halfcell:
        return 1, 2
    if renderable is Unicode:
        return 1, 1
    return 1, 2


def terminal_cell_size() -> tuple[int, int]:
    from textual_image._terminal import get_cell_size

    size = get_cell_size()
    return size.width, size.height


def renderer_name(widget_class: type[Widget]) -> str:
    """What a person calls the protocol a widget class draws with."""
    from textual_image import widget as ti

    if widget_class is ti.SixelImage:
        return "sixel"
    renderable = getattr(widget_class, "_Renderable", None)
    return {
        ti.TGPRenderable: "kitty",
        ti.HalfcellRenderable: "halfcell",
        ti.UnicodeRenderable: "unicode",
    }.get(renderable, "unknown")


class ImageView(Widget):
    """Shows a decoded image as large as its area allows, or a message in its place."""

    DEFAULT_CSS = """
    ImageView { height: 1fr; width: 1fr; }
    ImageView Center { height: 1fr; }
    ImageView Middle { width: 1fr; }
    ImageView #message { width: auto; text-align: center; color: $text-muted; }
    """

    def __init__(self, renderer: type[Widget], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._renderer = renderer
        self._cell = terminal_cell_size()
        self._density = renderer_density(renderer)

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static("", id="message")
            yield self._renderer(id="picture")

    def geometry(self) -> Geometry | None:
        """The area available for an image, or None before the first layout."""
        size = self.content_size
        if size.width < 1 or size.height < 1:
            return None
        return Geometry(size.width, size.height, self._cell, self._density)

    def show_image(self, decoded: Decoded) -> None:
        picture = self.query_one("#picture")
        picture.styles.width, picture.styles.height = decoded.cells
        picture.image = decoded.image  # type: ignore[attr-defined]
        picture.display = True
        self.query_one("#message").display = False

    def show_message(self, text: str) -> None:
        picture = self.query_one("#picture")
        picture.display = False
        message = self.query_one("#message", Static)
        message.update(text)
        message.display = True

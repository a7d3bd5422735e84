"""The image area: one textual-image widget sized to fit, or a centred message."""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from tui_label.config.fidelity import Fidelity
from tui_label.media.decode import Decoded, Geometry
from tui_label.terminal import kitty
from tui_label.terminal.colour import ColourDepth, colour_depth
from tui_label.terminal.probe import Detection, detect
from tui_label.terminal.tmux import tmux_placeholders
from tui_label.tui import renderers
from tui_label.tui.kitty_driver import KittyDriver
from tui_label.tui.widgets.kitty_picture import (
    KittyPicture,
    KittyPlaceholderPicture,
    prepare_tmux,
)
from tui_label.tui.widgets.picture import (
    HalfcellPicture,
    LibraryPicture,
    Renderer,
    SixelPicture,
    halfcell_strips,
    sixel_data,
)


def load_renderer(name: str, fidelity: Fidelity | None = None,
                  detection: Detection | None = None) -> Renderer:
    """The renderer for ``name`` (auto, kitty, sixel, halfcell, unicode), its images within
    ``fidelity`` (``--link``, ``--max-pixels``).

    ``auto`` asks the terminal (``tui_label.terminal.probe.detect``: two rounds, each with a
    time limit, late answers discarded) unless ``detection`` is given. That is impossible once
    Textual owns the terminal: call this before ``App.run()``.
    """
    fidelity = fidelity or Fidelity()
    renderer = _load_renderer(name, fidelity, detection)
    if renderer.name == "kitty":  # placements take a size in cells: the terminal scales
        renderer = replace(renderer, fidelity=fidelity, scales=True)
    return renderer


def load_terminal(name: str, fidelity: Fidelity | None = None
                  ) -> tuple[Renderer, ColourDepth]:
    """``load_renderer``, and whether the app uses 24-bit colour (``tui_label.terminal.colour``;
    by the same probe's XTVERSION, where the renderer asks). Call it before ``App.run()``."""
    detection = detect() if needs_probe(name) else None
    replies = detection.replies if detection is not None else None
    return (load_renderer(name, fidelity, detection),
            colour_depth(dict(os.environ), replies.xtversion if replies is not None else None))


def needs_probe(name: str) -> bool:
    """Whether renderer ``name`` asks the terminal: auto does; so does sixel (the largest image
    the terminal draws) and kitty without a cell size from the pty."""
    return name in ("auto", "sixel") or (name == "kitty" and renderers.pty_cell_size() is None)


def _filtering_replies(widget_class: type[Widget], **kwargs: Any) -> partial:
    """The widget factory, with the driver whose input thread takes terminal replies out of
    the keys (device attributes, kitty graphics): an answer to the start-up probe that comes
    after its time limit is dropped, never read as a class key."""
    factory = partial(widget_class, **kwargs)
    factory.driver_class = KittyDriver  # type: ignore[attr-defined]  # read by LabelApp
    return factory


def _load_renderer(name: str, fidelity: Fidelity, detection: Detection | None) -> Renderer:
    if detection is None and needs_probe(name):
        detection = detect()
    auto = name == "auto"
    if auto:
        name = detection.renderer
    replies = detection.replies if detection is not None else None
    ti = renderers.load_textual_image(replies.cell_size if replies is not None else None)
    cell = renderers.cell_size()
    if os.environ.get("TMUX") and (name == "kitty" or (auto and name == "halfcell")):
        # Inside tmux: kitty graphics only as Unicode placeholders through passthrough
        # (direct placements do not get through), else half blocks
        if tmux_placeholders(dict(os.environ)).usable:
            return Renderer("kitty", KittyPlaceholderPicture, prepare_tmux, cell)
        name = "halfcell"
    if name == "halfcell":
        return Renderer("halfcell", _filtering_replies(HalfcellPicture),
                        partial(halfcell_strips, colors=fidelity.halfcell_colors), (1, 2),
                        fidelity)
    if name == "sixel":
        return Renderer("sixel", _filtering_replies(SixelPicture, fidelity=fidelity),
                        partial(sixel_data, fidelity=fidelity), cell,
                        fidelity, max_size=replies.sixel_max if replies is not None else None)
    if name == "kitty":
        # our own: direct placements (kitty before 0.28 too) and images uploaded ahead, as
        # sharp as the measured link carries between two keys (issue 17)
        planner = kitty.Planner()
        return Renderer("kitty", _filtering_replies(KittyPicture, planner=planner),
                        planner.prepare, cell)
    if name == "unicode":
        return Renderer("unicode", LibraryPicture(ti.UnicodeImage), None, (1, 1))
    raise ValueError(f"unknown renderer {name!r}")


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
        self._cell = renderers.cell_size()
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
        return Geometry(size.width, size.height, self._cell, self._density,
                        self._renderer.fidelity.max_pixels, self._renderer.scales,
                        self._renderer.max_size)

    class Resized(Message):
        """The image area changed size (the suggestions line or the panel came or went, or
        the terminal was resized): the image must be fitted again."""

    def on_resize(self, event: Resize) -> None:
        self.post_message(self.Resized())

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

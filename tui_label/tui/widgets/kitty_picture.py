"""Kitty graphics with direct placements and pre-sent images (issue 11).

The image area is blank cells; the placement (``a=p`` at the cursor, sized in cells) is
written inside the frame that draws the area, as ``SixelPicture`` injects its sixel data. No
Unicode placeholders, so kitty before 0.28 draws it too.

Uploads go through one ``tui_label.terminal.kitty.Uploader`` per app, which writes through
Textual's writer thread (so they keep their order with the frames) and paces them on the
terminal's answers to ``CSI c``. Those answers, and kitty's own replies, arrive on stdin:
``KittyDriver`` (tui/kitty_driver.py) takes them out of the input before Textual's parser would
turn them into key presses. Inside tmux: ``KittyPlaceholderPicture`` (``tui_label.terminal.tmux``).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from PIL import Image as PILImage
from rich.color import Color, ColorTriplet, ColorType
from rich.control import Control
from rich.segment import Segment
from rich.style import Style
from textual.dom import NoScreen
from textual.errors import NoWidget
from textual.geometry import Region
from textual.message import Message
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

from tui_label.terminal import kitty, tmux
from tui_label.tui.kitty_driver import KittyDriver, uploader_for


class KittyPicture(Widget):
    """Blank cells with the image placed over them; ``show`` takes a ``kitty.KittyImage``."""

    # The whole image area, whatever the image's size: a new image is a new placement and
    # nothing else (a widget that changed size would repaint the area, KBs of blank cells).
    DEFAULT_CSS = "KittyPicture { width: 1fr; height: 1fr; }"
    fills_area = True  # ImageView sets ``cells`` instead of resizing it

    class LayerStarted(Message):
        """The shown image's full layer began to upload: place it."""
    driver_class = KittyDriver  # LabelApp runs on it when this renderer is chosen

    def __init__(self, *, id: str | None = None, planner: kitty.Planner | None = None) -> None:
        super().__init__(id=id)
        self.planner = planner  # the renderer's: its prepare made the images (issue 17)
        self.image: PILImage.Image | None = None
        self._kitty: kitty.KittyImage | None = None
        self._announced: kitty.KittyImage | None = None  # handed to the uploader's show()
        self._placed: set[int] = set()  # image ids with a placement on screen now
        self._signature: tuple | None = None  # (region, layers) placed last
        self.uploader: kitty.Uploader | None = None
        self.cells: tuple[int, int] = (0, 0)  # the image's size on screen
        self._after_refresh = False  # a _place_now is due after the next refresh already

    def on_mount(self) -> None:
        self.uploader = uploader_for(self.app, self.planner)
        self.uploader.listen(self._layer_started)  # one uploader for every picture (a grid)
        self.app.screen_change_signal.subscribe(self, self._screen_changed)

    def on_unmount(self) -> None:
        self._unplace()
        if self.uploader is not None:
            self.uploader.unlisten(self._layer_started)

    def on_hide(self) -> None:
        self._unplace()  # a message in its place: kitty would keep drawing the image

    def on_show(self) -> None:
        self.refresh()

    def show(self, image: PILImage.Image, prepared: kitty.KittyImage) -> None:
        self.image, self._kitty = image, prepared
        # The area does not change with the image: placed now, ahead of the key's frame
        # (and again after the next refresh, a no-op unless the layout moved it).
        self._place_now()
        self._place_after_refresh()

    def ahead(self, prepared: list[kitty.KittyImage]) -> None:
        """The next images, nearest first, ready to upload in the background."""
        if self.uploader is not None:
            self.uploader.ahead(prepared)

    def _layer_started(self, layer: kitty.Layer) -> None:
        # any thread: an image's full layer exists now; this one's: place it over the low one
        shown = self._kitty
        if shown is not None and layer is shown.full:
            self.post_message(self.LayerStarted())  # thread-safe, never blocks

    def on_kitty_picture_layer_started(self, _message: KittyPicture.LayerStarted) -> None:
        self._place_now()

    def _screen_changed(self, screen: Screen) -> None:
        if screen is not self.screen:
            self._unplace()  # a screen on top: kitty images would cover it
        else:
            self.refresh()

    def _unplace(self) -> None:
        if self.uploader is not None:
            self.uploader.hide(id(self))  # off screen: shown again (``show``) when back
            if self._placed:
                self.uploader.write(b"".join(kitty.delete(i) for i in sorted(self._placed)))
        self._placed, self._signature, self._announced = set(), None, None

    def _place_now(self) -> None:
        """Write the placement of the shown image (and delete those no longer wanted), at
        the widget's place on screen, outside any frame: the cells stay as they are."""
        if self._kitty is None or self.uploader is None or not self.display:
            return
        try:
            if not self.screen.is_active:
                return
            region = self.screen.find_widget(self).region
        except (NoScreen, NoWidget):
            return  # off the screen's layout (a grid cell hidden on a short last page)
        if self._announced is not self._kitty:
            self._announced = self._kitty
            layers = self.uploader.show(self._kitty, id(self))  # what is missing first, at once
            self.call_after_refresh(self.uploader.resume)
        else:
            layers = self.uploader.placeable(self._kitty)
        wanted = {layer.image_id for layer in layers}
        cols, rows = min(self.cells[0], region.width), min(self.cells[1], region.height)
        x = region.x + (region.width - cols) // 2
        y = region.y + (region.height - rows) // 2
        signature = (x, y, cols, rows, tuple(layer.image_id for layer in layers))
        if signature == self._signature:
            return
        out = b"".join(kitty.delete(i) for i in sorted(self._placed - wanted))
        for z, layer in enumerate(layers):
            out += kitty.place(layer.image_id, cols, rows, z=z)
        move = Control.move_to(x, y).segment.text.encode()
        self.uploader.write(b"\x1b7" + move + out + b"\x1b8")  # cursor saved and restored
        self._placed, self._signature = wanted, signature

    def render_lines(self, crop: Region) -> list[Strip]:
        # Blank cells; the image is placed over them once this frame is out.
        try:
            active = self.screen.is_active
        except NoScreen:
            active = False
        if not active:
            self._unplace()
        elif self._kitty is not None:
            self._place_after_refresh()
        return [Strip.blank(crop.width)] * crop.height

    def _place_after_refresh(self) -> None:
        """``_place_now`` once the coming refresh is out: once, however many times it is asked
        for before (a show, then a paint or two: a grid page asked 280 times for 70 cells)."""
        if not self._after_refresh:
            self._after_refresh = True
            self.call_after_refresh(self._placed_after_refresh)

    def _placed_after_refresh(self) -> None:
        self._after_refresh = False
        self._place_now()

    def prefetched(self, futures: list) -> None:
        """The decodes of the next images, nearest first: uploaded as each is ready."""
        def ready(_future=None) -> None:
            images = []
            for future in futures:
                if future.done() and not future.cancelled() and future.exception() is None:
                    prepared = future.result().prepared
                    if isinstance(prepared, kitty.KittyImage):
                        images.append(prepared)
            self.ahead(images)

        for future in futures:
            future.add_done_callback(ready)


def prepare(image: PILImage.Image) -> kitty.KittyImage:
    return kitty.prepare(image)


@dataclass(frozen=True)
class TmuxImage:
    """An image ready for tmux: its id and its upload, each escape code wrapped for
    passthrough (made on a decode thread)."""

    image_id: int
    upload: bytes


_tmux_ids = itertools.cycle(range(16, 256))
_tmux_ids_lock = threading.Lock()


def prepare_tmux(image: PILImage.Image) -> TmuxImage:
    """Ids 16-255: the placeholders' colour says the id, and as a 256-colour index it gets
    through tmux as it is (a 24-bit one becomes the nearest palette colour where tmux does
    not know the terminal takes 24-bit colour)."""
    with _tmux_ids_lock:
        image_id = next(_tmux_ids)
    return TmuxImage(image_id, tmux.passthrough(kitty.transmit(image_id, image, quiet=2)))


def _id_colour(image_id: int) -> Color:
    """``38;5;ID``, with a triplet so that Textual's filters leave it alone (see
    picture._color_256)."""
    return Color(f"color({image_id})", ColorType.EIGHT_BIT, number=image_id,
                 triplet=ColorTriplet(0, 0, 0))


class KittyPlaceholderPicture(Widget):
    """Kitty graphics inside tmux: the image is uploaded through tmux's passthrough with a
    virtual placement, and drawn where its Unicode placeholder cells are (tmux keeps them
    like any text). Needs ``allow-passthrough on`` and a terminal that draws placeholders
    (kitty 0.28+, Ghostty): ``tmux.tmux_placeholders`` checks both."""

    DEFAULT_CSS = "KittyPlaceholderPicture { width: auto; height: auto; }"
    driver_class = KittyDriver

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.image: PILImage.Image | None = None
        self._shown: TmuxImage | None = None
        self._placed: tuple[int, int, int] | None = None  # (id, cols, rows) placed
        self._strips: list[Strip] = []

    def _write(self, data: bytes) -> None:
        driver = self.app._driver  # noqa: SLF001 (through the writer thread, in order)
        if driver is not None:
            driver.write(data.decode("ascii"))

    def on_unmount(self) -> None:
        if self._shown is not None:
            self._write(tmux.passthrough(kitty.delete(self._shown.image_id, free=True)))

    def show(self, image: PILImage.Image, prepared: TmuxImage) -> None:
        self.image = image
        if self._shown is not prepared:
            if self._shown is not None:
                self._write(tmux.passthrough(kitty.delete(self._shown.image_id, free=True)))
            self._write(prepared.upload)
            self._shown, self._placed = prepared, None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        cols, rows = self.size
        if self._shown is None or cols < 1 or rows < 1:
            return Strip.blank(cols)
        key = (self._shown.image_id, cols, rows)
        if self._placed != key:
            self._write(tmux.passthrough(tmux.virtual_place(*key)))
            style = Style(color=_id_colour(self._shown.image_id))
            self._strips = [Strip([Segment(text, style)], cols)
                            for text in tmux.placeholder_rows(*key)]
            self._placed = key
        return self._strips[y] if y < len(self._strips) else Strip.blank(cols)

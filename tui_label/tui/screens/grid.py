"""The grid review screen (issue 18): a page of thumbnails, one key labels the page.

Draws ``labeling.grid.GridSession``'s page and maps keys to it: a cell's key (or arrows and
space) toggles it out, enter labels the cells still in as the page's class, a class key labels
the chosen cell alone, ``]``/``[`` turn pages, ``z`` shows the chosen cell full size, ``L``
opens the chosen cell's look-alikes, ``u`` undoes the last step, escape goes back.
Thumbnails are decoded and prepared on the decode threads (the labeler's ``Prefetcher``); the
page counts as drawn only after the refresh that draws all of it, and keys before that are
refused with a notice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.events import Key
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from tui_label.core.types import QueueItem
from tui_label.labeling.grid import Cell, GridSession, Outcome
from tui_label.media.decode import Decoded, Prefetcher
from tui_label.tui.screens.messages import ImageDecoded, PageDecoded
from tui_label.tui.widgets.image_view import ImageView
from tui_label.tui.widgets.picture import Renderer


class GridCell(Vertical):
    DEFAULT_CSS = """
    GridCell { height: 1fr; width: 1fr; border: round $panel; }
    GridCell.chosen { border: heavy $accent; }
    GridCell.out { border: round $error; }
    GridCell.out.chosen { border: heavy $error; }
    GridCell > ImageView { height: 1fr; }
    GridCell > .caption { height: 1; width: 1fr; text-align: center; }
    """


class Zoom(ModalScreen[None]):
    """One cell full size (decoded again for the whole screen); any key returns."""

    def __init__(self, renderer: Renderer, prefetcher: Prefetcher, item: QueueItem,
                 path: Path) -> None:
        super().__init__()
        self.renderer, self.prefetcher, self.item, self.path = renderer, prefetcher, item, path
        self._future: Future[Decoded] | None = None

    def compose(self) -> ComposeResult:
        yield ImageView(self.renderer, id="zoomed")

    def on_mount(self) -> None:
        self.call_after_refresh(self._request)

    def _request(self) -> None:
        view = self.query_one(ImageView)
        geometry = view.geometry()
        if geometry is None:
            return
        view.show_message(f"loading {self.item.path} …")
        self._future = self.prefetcher.request(self.item.id, self.path, geometry)
        post, image_id = self.post_message, self.item.id
        self._future.add_done_callback(lambda _f: post(ImageDecoded(image_id)))

    @on(ImageDecoded)
    def _decoded(self) -> None:
        if self._future is not None:
            decoded = self._future.result()
            view = self.query_one(ImageView)
            if decoded.error:
                view.show_message(f"⚠ cannot show {self.item.path}\n{decoded.error}")
            else:
                view.show_image(decoded)

    def on_key(self, event: Key) -> None:
        event.stop()
        self.dismiss()


class GridScreen(Screen[int]):
    """Pages of ``grid`` in a ``cols`` x ``rows`` grid of thumbnails; dismissed with the
    number of images labeled in it."""

    DEFAULT_CSS = """
    #grid-header { height: 1; padding: 0 1; text-style: bold; }
    #grid { height: 1fr; }
    #grid-notice { height: 1; padding: 0 1; }
    #grid-notice.flash { background: $error; color: $text; }
    """

    BINDINGS = [
        Binding("enter", "commit", "Label page"),
        Binding("space", "toggle_chosen", "In/out", key_display="␣"),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]"),
        Binding("left_square_bracket", "page(-1)", "Prev page", key_display="["),
        Binding("z", "zoom", "Zoom"),
        Binding("u", "undo", "Undo"),
        Binding("L", "more_like", "Like this"),
        Binding("escape", "leave", "Back", key_display="esc"),
        Binding("left", "move(-1, 0)", show=False), Binding("right", "move(1, 0)", show=False),
        Binding("up", "move(0, -1)", show=False), Binding("down", "move(0, 1)", show=False),
    ]

    def __init__(self, grid: GridSession, renderer: Renderer, prefetcher: Prefetcher,
                 root: Path, cols: int, rows: int, *, title: str,
                 more_like: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.more_like = more_like  # L on a cell: its look-alikes, in a grid of their own
        self.grid, self.renderer, self.root = grid, renderer, root
        # Its own decode cache, holding this page, the next and the one before (the
        # labeler's keeps a few images: a page of 24 would push its own cells out).
        self.prefetcher = Prefetcher(keep=max(16, 3 * cols * rows), prepare=prefetcher.prepare)
        self.cols, self.rows, self.title_text = cols, rows, title
        self.chosen = 0
        self._futures: list[Future[Decoded] | None] = []
        self._shown: list[Future[Decoded] | None] | None = None  # the futures last displayed
        self._cell_list: list[GridCell] = []
        self._shown_at = 0.0
        self.labeled = 0  # images labeled in this grid (the labeler's counts follow)

    def compose(self) -> ComposeResult:
        yield Static("", id="grid-header")
        with Grid(id="grid"):
            for n in range(self.cols * self.rows):
                with GridCell(id=f"cell-{n}"):
                    yield ImageView(self.renderer)
                    yield Static("", classes="caption")
        yield Static("", id="grid-notice")
        yield Footer()

    def on_mount(self) -> None:
        grid = self.query_one("#grid", Grid)
        grid.styles.grid_size_columns, grid.styles.grid_size_rows = self.cols, self.rows
        self.call_after_refresh(self.show_page)

    # -- drawing --------------------------------------------------------------------------

    def _cells(self) -> list[GridCell]:
        """The page's cells (composed once: a query walks the screen's widgets, a few ms)."""
        if not self._cell_list:
            self._cell_list = list(self.query(GridCell))
        return self._cell_list

    def show_page(self) -> None:
        """Ask for the page's thumbnails; they are shown together once all are decoded."""
        page = self.grid.page
        self.chosen = min(self.chosen, max(0, len(page.cells) - 1))
        self._futures = []
        number, post = page.number, self.post_message

        def done(_future: Future[Decoded]) -> None:  # on a decode thread
            post(PageDecoded(number))

        for n, widget in enumerate(self._cells()):
            view = widget.query_one(ImageView)
            geometry = view.geometry()
            widget.display = n < len(page.cells)
            if n >= len(page.cells) or geometry is None:
                self._futures.append(None)
                continue
            item = page.cells[n].item
            future = self.prefetcher.request(item.id, self.root / item.path, geometry)
            self._futures.append(future)
            future.add_done_callback(done)
        self._caption()
        self._header()
        if not page.cells:
            self.query_one("#grid-notice", Static).update(
                Text("No more images in this order: escape returns to the labeler."))
        self._maybe_display(page.number)

    @on(PageDecoded)
    def _decoded(self, message: PageDecoded) -> None:
        self._maybe_display(message.page)

    def _maybe_display(self, number: int) -> None:
        if (number != self.grid.page.number or self.grid.drawn == number
                or self._shown is self._futures):
            return  # another cell's decode once the page is shown (24 messages a page)
        if any(f is not None and not f.done() for f in self._futures):
            return
        if any(f is not None and f.cancelled() for f in self._futures):
            self.show_page()  # pushed out of the cache meanwhile: asked for again
            return
        self._shown = self._futures
        # One frame for the page: without the batch every picture's own refresh and
        # placement drew a frame of its own (5 to 7 a page with kitty or sixel).
        with self.app.batch_update():
            for widget, future in zip(self._cells(), self._futures, strict=False):
                if future is None:
                    continue
                decoded = future.result()
                view = widget.query_one(ImageView)
                if decoded.error:
                    view.show_message(f"⚠ {decoded.error}")
                else:
                    view.show_image(decoded)
        self.call_after_refresh(self._drawn, number)

    def _drawn(self, number: int) -> None:
        if number == self.grid.page.number:
            self.grid.mark_drawn(number)
            self._shown_at = time.monotonic()
            self._prefetch_next()

    def _prefetch_next(self) -> None:
        """Decode the next page's thumbnails while this one is reviewed, each for the cell it
        will take (cells differ by a column or a row where the screen does not divide evenly,
        and a thumbnail prepared for another size is decoded again); kitty graphics uploads
        them as they are ready (one uploader for every cell)."""
        futures = []
        for item, widget in zip(self.grid.ahead(), self._cells(), strict=False):
            geometry = widget.query_one(ImageView).geometry()
            if geometry is not None:
                futures.append(self.prefetcher.request(item.id, self.root / item.path,
                                                       geometry))
        if futures:
            self._cells()[0].query_one(ImageView).prefetched(futures)

    def _caption(self) -> None:
        for n, widget in enumerate(self._cells()):
            if n >= len(self.grid.page.cells):
                continue
            cell = self.grid.page.cells[n]
            widget.set_class(cell.out, "out")
            widget.set_class(n == self.chosen, "chosen")
            # One line each, whatever the text: no layout (a page's 70 captions reflowed
            # the screen's 200 widgets).
            widget.query_one(".caption", Static).update(Text(self._caption_text(cell)),
                                                        layout=False)

    def _caption_text(self, cell: Cell) -> str:
        state = self.grid.store.current(cell.item.id)
        if state.action == "label":
            what = self.grid.class_name(state.class_id) or "labeled"
        elif cell.suggestion is not None:
            what = f"{self.grid.class_name(cell.suggestion[0])} {cell.suggestion[1]:.2f}"
        else:
            what = "no suggestion"
        mark = "✗ out" if cell.out else "✓"
        return f"{cell.key or '·'}  {what}  {mark}"

    def _header(self) -> None:
        page = self.grid.page
        name = self.grid.class_name(page.class_id)
        kept = sum(not c.out for c in page.cells)
        # No class (no suggestions): enter is refused, a class key labels the chosen cell.
        what = (f"enter labels {kept} as {name}" if name is not None
                else "no class for the page: class keys label the chosen cell")
        self.query_one("#grid-header", Static).update(Text(
            f"{self.title_text} · page {page.number + 1} · {what} · "
            f"{self.labeled} labeled here"), layout=False)

    # -- keys -----------------------------------------------------------------------------

    def _result(self, outcome: Outcome) -> None:
        notice = self.query_one("#grid-notice", Static)
        if outcome.notice:
            self.app.bell()
            notice.update(Text(outcome.notice))
            notice.add_class("flash")
            self.set_timer(0.6, lambda: notice.remove_class("flash"))
            return
        notice.update("")
        self.labeled += len(outcome.labeled) - len(outcome.undone)
        if outcome.moved:
            self.chosen = 0
            self.show_page()
        else:
            self._caption()
            self._header()

    def _ms(self) -> int | None:
        return int((time.monotonic() - self._shown_at) * 1000) if self._shown_at else None

    def on_key(self, event: Key) -> None:
        char = event.character or ""
        index = self.grid.page.cell(char) if char else None
        if index is not None:
            event.stop()
            self.chosen = index
            self._result(self.grid.toggle(index))
            return
        row = next((c for c in self.grid.classes if c.hotkey and c.hotkey == char), None)
        if row is not None:
            event.stop()
            self._result(self.grid.label_cell(self.chosen, row.id, ms_on_screen=self._ms()))

    def action_commit(self) -> None:
        self._result(self.grid.commit(ms_on_screen=self._ms()))

    def action_toggle_chosen(self) -> None:
        self._result(self.grid.toggle(self.chosen))

    def action_page(self, step: int) -> None:
        self._result(self.grid.next_page() if step > 0 else self.grid.previous_page())

    def action_undo(self) -> None:
        self._result(self.grid.undo())

    def action_move(self, dx: int, dy: int) -> None:
        count = len(self.grid.page.cells)
        if count:
            col, row = self.chosen % self.cols, self.chosen // self.cols
            col, row = (col + dx) % self.cols, (row + dy) % self.rows
            self.chosen = min(count - 1, row * self.cols + col)
            self._caption()

    def action_zoom(self) -> None:
        if self.chosen < len(self.grid.page.cells):
            item = self.grid.page.cells[self.chosen].item
            self.app.push_screen(Zoom(self.renderer, self.prefetcher, item,
                                      self.root / item.path))

    def action_more_like(self) -> None:
        if self.more_like is not None and self.chosen < len(self.grid.page.cells):
            self.more_like(self.grid.page.cells[self.chosen].item.id)

    def action_leave(self) -> None:
        self.grid.release()
        self.dismiss(self.labeled)

    def on_unmount(self) -> None:
        self.prefetcher.close()

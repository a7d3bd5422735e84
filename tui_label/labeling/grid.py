"""Grid review without a screen (issue 18): a page of images at a time, drawn from any order,
labeled with one key.

Every cell is "in" until its key toggles it out (on a page whose class is its suggestions'
vote, only the cells suggested as that class start in); ``commit`` labels every cell still in
as the page's class (one label event per image, source ``grid``, in one transaction) and
moves to the next page; a class key on a chosen cell labels that cell alone. ``undo`` takes
back the last step whole (a page's labels together). The rules of the single-image labeler hold:

* nothing is labeled that was not drawn: a page's keys are refused until the screen says it
  drew that page (``drawn``), and a key for an older page is refused too;
* each step commits before the grid moves on (a killed labeler loses no acknowledged page);
* the page's images are leased (``Store.claim``) so two annotators never review one page: an
  image someone else holds or labeled since leaves the page before it is shown.

No textual, no torch. The screen draws ``page`` and maps keys to these calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tui_label.core.types import ClassRow, QueueItem
from tui_label.store import ClaimRequest, Store, UndoConflict

# Cell keys follow the keyboard's rows, left to right, top to bottom (q is the top left
# cell), then the same rows with shift; keys the grid itself uses and the class keys are
# left out.
KEY_ROWS = "qwertyuiopasdfghjklxcvbnm"
GRID_KEYS = frozenset("uzL")  # undo, zoom, more like this
LEASE_SECONDS = 120.0


def cell_keys(classes: Sequence[ClassRow]) -> list[str]:
    """The keys a page's cells get, in order, with these classes' hotkeys left out."""
    taken = GRID_KEYS | {c.hotkey for c in classes if c.hotkey}
    return [k for k in KEY_ROWS + KEY_ROWS.upper() if k not in taken]


def grid_shape(width: int, height: int, *, pixels: bool = False,
               keys: int | None = None) -> tuple[int, int]:
    """Columns and rows of thumbnails for a terminal of ``width`` x ``height`` cells: 4x3 at
    80x24, 6x4 at 160x48 with half blocks; more with kitty or sixel (``pixels``), whose small
    cells still show a recognisable picture; never more cells than ``keys``, so that every
    cell has its key (rows go first, then columns)."""
    body = max(1, height - 3)  # the header and the footer lines
    if pixels:
        cols, rows = max(2, min(12, width // 16)), max(1, min(8, body // 6))
    else:
        cols = width // 20 if width < 120 else width // 26
        rows = body // 7 if height < 40 else body // 11
        cols, rows = max(2, min(12, cols)), max(1, min(8, rows))
    if keys is not None:
        keys = max(2, keys)
        rows = max(1, min(rows, keys // cols))
        cols = max(1, min(cols, keys // rows))
    return cols, rows


@dataclass
class Cell:
    item: QueueItem
    key: str  # the key that toggles it ("" when the keys ran out: arrows and space only)
    suggestion: tuple[int, float] | None = None  # the model's top class and its probability
    out: bool = False  # toggled out: enter leaves it alone


@dataclass
class Page:
    number: int  # 0, 1, ... in the order
    cells: list[Cell]
    class_id: int | None  # what enter labels the cells still in as (None: nothing)

    def cell(self, key: str) -> int | None:
        return next((n for n, c in enumerate(self.cells) if c.key == key), None)


@dataclass(frozen=True)
class Outcome:
    """What one grid call did, for the screen to draw."""

    labeled: tuple[int, ...] = ()  # image ids labeled by this call
    undone: tuple[int, ...] = ()
    moved: bool = False  # another page is shown now
    notice: str | None = None  # a refusal, said to the user (nothing changed when set)


@dataclass
class GridSession:
    """Pages of ``per_page`` images from ``queue`` (in order) for one annotator.

    Args:
        store: The session's store (one thread).
        queue: The images in the order under review, unlabeled ones only or not: a page
            shows what the order gives.
        per_page: Cells on a page (columns x rows of ``grid_shape``).
        classes: The classes with keys (a class key labels a chosen cell).
        page_class: The class the pages are for ("predicted as CLASS"); None: each page's is
            the class its cells' suggestions agree on most.
        suggest: The model's classes for an image, best first (``LabelSession.suggestions``).
    """

    store: Store
    queue: list[QueueItem]
    per_page: int
    classes: Sequence[ClassRow]
    page_class: int | None = None
    suggest: Callable[[int], list[tuple[int, float]]] | None = None
    start: int = 0  # queue position of the current page's first candidate
    drawn: int | None = None  # the number of the page the screen has drawn
    steps: list[tuple[int, ...]] = field(default_factory=list)  # event ids, newest last
    history: list[int] = field(default_factory=list)  # queue positions of earlier pages
    page: Page = field(init=False)
    _since: int = field(init=False, default=0)
    _mine: set[int] = field(init=False, default_factory=set)
    _scanned: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._since = self.store.last_event_id()
        self.page = self._make_page(0)

    # -- the page -------------------------------------------------------------------------

    def _make_page(self, number: int) -> Page:
        """The page from queue position ``start``: the next free images, leased."""
        candidates = ((i.id, i.path) for i in self.queue[self.start:])
        result = self.store.claim(ClaimRequest(
            candidates, self.per_page, since=self._since, mine=self._mine,
            ttl=LEASE_SECONDS))
        by_id = {i.id: i for i in self.queue[self.start:self.start + result.scanned]}
        self._scanned = result.scanned
        keys = cell_keys(self.classes)
        cells = []
        for n, image_id in enumerate(result.claimed):
            top = self.suggest(image_id)[:1] if self.suggest is not None else []
            cells.append(Cell(by_id[image_id], keys[n] if n < len(keys) else "",
                              top[0] if top else None))
        class_id = self._class_of(cells)
        if self.page_class is None:  # a class by vote (a mixed order): only its cells are in
            for cell in cells:
                cell.out = cell.suggestion is None or cell.suggestion[0] != class_id
        return Page(number, cells, class_id)

    def _class_of(self, cells: list[Cell]) -> int | None:
        if self.page_class is not None:
            return self.page_class
        votes = Counter(c.suggestion[0] for c in cells if c.suggestion is not None)
        return min(votes, key=lambda k: (-votes[k], k)) if votes else None

    def class_name(self, class_id: int | None) -> str | None:
        return next((c.name for c in self.classes if c.id == class_id), None)

    @property
    def finished(self) -> bool:
        return not self.page.cells

    def mark_drawn(self, number: int) -> None:
        """The screen drew page ``number``: its keys count from now."""
        self.drawn = number

    def _refused(self, number: int | None = None) -> str | None:
        number = self.page.number if number is None else number
        if self.drawn != self.page.number or number != self.page.number:
            return "The page is not on screen yet: key ignored."
        return None

    # -- keys -----------------------------------------------------------------------------

    def toggle(self, index: int, *, page: int | None = None) -> Outcome:
        """Toggle cell ``index`` out of (or back into) the page's label."""
        notice = self._refused(page)
        if notice or not 0 <= index < len(self.page.cells):
            return Outcome(notice=notice or "No such cell.")
        self.page.cells[index].out = not self.page.cells[index].out
        return Outcome()

    def commit(self, *, page: int | None = None, ms_on_screen: int | None = None) -> Outcome:
        """Label every cell still in as the page's class, then show the next page."""
        notice = self._refused(page)
        if notice:
            return Outcome(notice=notice)
        if self.page.class_id is None:
            return Outcome(notice="This page has no class (no suggestions): label a cell "
                                  "with its class key, or review a class's predictions.")
        chosen = [c.item.id for c in self.page.cells if not c.out]
        labeled = self._label([(i, self.page.class_id) for i in chosen], ms_on_screen)
        self._next_page()
        return Outcome(labeled=labeled, moved=True)

    def label_cell(self, index: int, class_id: int, *, page: int | None = None,
                   ms_on_screen: int | None = None) -> Outcome:
        """Label cell ``index`` alone as ``class_id``; it leaves the page's label."""
        notice = self._refused(page)
        if notice or not 0 <= index < len(self.page.cells):
            return Outcome(notice=notice or "No such cell.")
        cell = self.page.cells[index]
        labeled = self._label([(cell.item.id, class_id)], ms_on_screen)
        cell.out = True  # labeled already: enter leaves it alone
        return Outcome(labeled=labeled)

    def _label(self, labels: list[tuple[int, int]], ms_on_screen: int | None) -> tuple[int, ...]:
        if not labels:
            return ()
        event_ids = self.store.label_batch(labels, source="grid", ms_on_screen=ms_on_screen)
        self._mine.update(event_ids)
        self.steps.append(tuple(event_ids))
        return tuple(image_id for image_id, _ in labels)

    def undo(self) -> Outcome:
        """Take back the last step whole (a page's labels, or one cell's)."""
        if not self.steps:
            return Outcome(notice="Nothing to undo in this grid.")
        try:
            results = self.store.undo_batch(self.steps[-1])
        except UndoConflict as exc:
            return Outcome(notice=f"{exc}")
        self._mine.update(r.event_id for r in results)
        self.steps.pop()
        return Outcome(undone=tuple(r.image_id for r in results))

    # -- pages ----------------------------------------------------------------------------

    def _next_page(self) -> None:
        self.history.append(self.start)
        self.start += self._scanned
        self.page = self._make_page(self.page.number + 1)

    def next_page(self) -> Outcome:
        """Leave this page unlabeled and show the next."""
        if self.finished:
            return Outcome(notice="No more images in this order.")
        self._next_page()
        return Outcome(moved=True)

    def previous_page(self) -> Outcome:
        if not self.history:
            return Outcome(notice="This is the first page.")
        self.start = self.history.pop()
        self.page = self._make_page(max(0, self.page.number - 1))
        return Outcome(moved=True)

    def ahead(self) -> list[QueueItem]:
        """The images the next page will most likely show (to decode them ahead)."""
        start = self.start + self._scanned
        return self.queue[start:start + self.per_page]

    def release(self) -> None:
        """Let go of the leases (leaving the grid)."""
        self.store.release_leases()

"""``o``: choose which images to show and in what order (the choices come from the registry).

Each entry says how many images it holds, counted on a worker thread (its own connection) as
the counts come; typing narrows the list to the entries holding every word typed, ↑/↓ move,
enter picks the highlighted one, esc clears what was typed (then closes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from tui_label.core import orders
from tui_label.core.orders import OrderChoice
from tui_label.core.types import ClassRow

# (choices, each(choice, count), cancelled): counts every choice, on a worker thread.
Counter = Callable[[list[OrderChoice], Callable[[OrderChoice, int], object],
                    Callable[[], bool]], object]


class OrderScreen(ModalScreen[OrderChoice | None]):
    DEFAULT_CSS = """
    OrderScreen { align: center middle; }
    OrderScreen Vertical {
        width: 60; height: auto; max-height: 100%; border: round $accent;
        background: $surface;
    }
    OrderScreen Input { margin: 0 0 1 0; }
    OrderScreen OptionList { height: auto; border: none; padding: 0; }
    /* The typing stays in the field: the list's highlight shows as if the list had focus. */
    OrderScreen OptionList > .option-list--option-highlighted {
        color: $block-cursor-foreground; background: $block-cursor-background;
        text-style: $block-cursor-text-style;
    }
    """
    BINDINGS = [Binding("escape", "clear_or_close", "Close", show=False),
                Binding("up", "move('cursor_up')", show=False),
                Binding("down", "move('cursor_down')", show=False),
                Binding("pageup", "move('page_up')", show=False),
                Binding("pagedown", "move('page_down')", show=False)]

    @dataclass
    class Counted(Message):
        """How many images one choice holds (from the worker thread)."""

        choice: OrderChoice
        count: int

    def __init__(self, classes: list[ClassRow], count: Counter | None = None, *,
                 has_model: bool = False, has_disagreements: bool = False) -> None:
        super().__init__()
        self._names = {row.id: row.name for row in classes}
        self._choices = orders.choices(classes, has_model=has_model,
                                       has_disagreements=has_disagreements)
        self._count = count
        self.counts: dict[OrderChoice, int] = {}
        self.shown: list[int] = list(range(len(self._choices)))  # indexes the filter lets by

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(placeholder="type to filter · ↑/↓ · enter picks · esc", id="order-filter",
                        compact=True)
            yield OptionList(*self._options(), id="order-list")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0 if self._choices else None
        self.query_one(Input).focus()
        if self._count is not None:
            self._count_all()

    def on_resize(self, event: Resize) -> None:
        # The list takes the rows the terminal leaves (a height in vh left blank rows below it
        # on a short terminal: the box's height counted the whole list).
        self.query_one(OptionList).styles.max_height = max(3, event.size.height - 6)

    def text(self, index: int) -> str:
        """What the picker says of choice ``index`` (plain: class names are user data)."""
        return self._choices[index].describe(self._names)

    def _prompt(self, index: int) -> Text:
        prompt = Text(self.text(index))
        count = self.counts.get(self._choices[index])
        if count is not None:
            prompt.append(f"  {count:,}", style="bold")
        return prompt

    def _options(self) -> list[Option]:
        return [Option(self._prompt(i), id=str(i)) for i in self.shown]

    def _matches(self, index: int, words: list[str]) -> bool:
        choice = self._choices[index]
        haystack = f"{self.text(index)} {orders.text_of(choice, self._names)}".casefold()
        return all(word in haystack for word in words)

    @on(Input.Changed)
    def _filter(self, event: Input.Changed) -> None:
        words = event.value.casefold().split()
        self.shown = [i for i in range(len(self._choices)) if self._matches(i, words)]
        option_list = self.query_one(OptionList)
        option_list.set_options(self._options())
        option_list.highlighted = 0 if self.shown else None

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is None:
            self.app.bell()  # nothing matches what was typed
            return
        self.dismiss(self._choices[self.shown[option_list.highlighted]])

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._choices[int(event.option.id or 0)])

    def action_move(self, action: str) -> None:
        getattr(self.query_one(OptionList), f"action_{action}")()

    def action_clear_or_close(self) -> None:
        field = self.query_one(Input)
        if field.value:
            field.value = ""
        else:
            self.dismiss(None)

    @work(thread=True, exclusive=True, group="order counts", exit_on_error=False,
          name="order counts")
    def _count_all(self) -> None:
        assert self._count is not None
        worker = get_current_worker()
        self._count(self._choices, lambda choice, n: self.post_message(self.Counted(choice, n)),
                    lambda: worker.is_cancelled)

    @on(Counted)
    def _counted(self, message: Counted) -> None:
        self.counts[message.choice] = message.count
        index = self._choices.index(message.choice)
        if index in self.shown:
            self.query_one(OptionList).replace_option_prompt(str(index), self._prompt(index))

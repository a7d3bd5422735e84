"""``o``: choose which images to show and in what order (the choices come from the registry)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui_label.core import orders
from tui_label.core.orders import OrderChoice
from tui_label.core.types import ClassRow


class OrderScreen(ModalScreen[OrderChoice | None]):
    DEFAULT_CSS = """
    OrderScreen { align: center middle; }
    OrderScreen OptionList { width: 50; height: auto; max-height: 80%; border: round $accent; }
    """
    BINDINGS = [Binding("escape,o,q", "dismiss", "Close", show=False)]

    def __init__(self, classes: list[ClassRow], *, has_model: bool = False,
                 has_disagreements: bool = False) -> None:
        super().__init__()
        self._names = {row.id: row.name for row in classes}
        self._choices = orders.choices(classes, has_model=has_model,
                                       has_disagreements=has_disagreements)

    def compose(self) -> ComposeResult:
        # Class names are user data: plain Text, never markup.
        yield OptionList(*[Option(Text(c.describe(self._names))) for c in self._choices])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._choices[event.option_index])

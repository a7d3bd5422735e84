"""``o``: choose which images to show and in what order."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui_label.store import ClassRow

Order = tuple[str, "int | None"]  # ("unlabeled"|"all"|"skipped"|"class", class id)


class OrderScreen(ModalScreen["tuple[str, int | None] | None"]):
    DEFAULT_CSS = """
    OrderScreen { align: center middle; }
    OrderScreen OptionList { width: 50; height: auto; max-height: 80%; border: round $accent; }
    """
    BINDINGS = [Binding("escape,o,q", "dismiss", "Close", show=False)]

    def __init__(self, classes: list[ClassRow]) -> None:
        super().__init__()
        self._choices: list[tuple[str, int | None]] = [
            ("unlabeled", None),
            ("all", None),
            ("skipped", None),
        ] + [("class", row.id) for row in classes]
        self._labels = ["Unlabeled first", "All images", "Skipped only"] + [
            f"Labeled as {row.name}" for row in classes
        ]

    def compose(self) -> ComposeResult:
        yield OptionList(*[Option(label) for label in self._labels])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._choices[event.option_index])

"""``C``: the model's clusters of the images, the ones one decision labels most of first;
choosing one reviews its unlabeled images as grid pages of its predicted class."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from tui_label.assist.clusters import Cluster  # numpy: loaded when clusters are made


def cluster_line(c: Cluster) -> str:
    labeled = (f"{c.labeled} labeled ({c.agreeing} as {c.predicted})" if c.labeled
               else "none labeled")
    return (f"cluster {c.number} · {c.size} images · {c.purity:.0%} predicted {c.predicted} "
            f"· {labeled}")


class ClustersScreen(ModalScreen["Cluster | None"]):
    DEFAULT_CSS = """
    ClustersScreen { align: center middle; }
    ClustersScreen OptionList { width: 80%; height: auto; max-height: 80%;
                                border: round $accent; }
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Close", show=False)]

    def __init__(self, clusters: list[Cluster]) -> None:
        super().__init__()
        self.clusters = clusters

    def compose(self) -> ComposeResult:
        # Class names are user data: plain Text, never markup.
        yield OptionList(*[Option(Text(cluster_line(c))) for c in self.clusters])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.clusters[event.option_index])

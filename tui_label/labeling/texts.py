"""What the labeler says about its session, as plain text (class names are user data: never
markup): an image's state, the status line's label, the order, the end of a view.

Pure functions over values; no textual.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from tui_label.core.orders import OrderChoice
from tui_label.core.types import ClassRow, ImageState


@dataclass(frozen=True)
class ClassNames:
    """Class names by id, and their places in the legend."""

    names: Mapping[int, str]
    positions: Mapping[int, int]

    @classmethod
    def of(cls, rows: Iterable[ClassRow]) -> ClassNames:
        rows = list(rows)
        return cls({c.id: c.name for c in rows}, {c.id: c.position for c in rows})

    def join(self, class_ids: Collection[int]) -> str:
        """Class names of a set, in the legend's order (``none`` for the empty set)."""
        if not class_ids:
            return "none"
        return ", ".join(self.names.get(c, "?") for c in sorted(
            class_ids, key=lambda c: (self.positions.get(c, 1 << 30), c)))


def state_text(state: ImageState, names: ClassNames) -> str:
    """``unlabeled``, ``skipped`` or ``→ cat``."""
    if state.skipped:
        return "skipped"
    if state.labeled:
        return "→ " + names.join(state.classes)
    return "unlabeled"


def label_text(state: ImageState, names: ClassNames,
               toggled: frozenset[int] | None = None) -> str:
    """The status line's label: ``state_text``, and in multi-label mode (``toggled``: the
    classes toggled on the image) the toggled set while it differs from the saved one."""
    text = state_text(state, names)
    if toggled is None or (state.labeled and toggled == state.classes):
        return text
    if not toggled and not state.labeled:
        return f"{text} · class keys toggle, ⏎ saves"
    return f"{text} · toggled: {names.join(toggled)} (⏎ saves)"


def describe_order(order: OrderChoice, class_names: Mapping[int, str],
                   model_source: str | None = None) -> str:
    """The order, and for a model order the model it ranks by (``model_source``, as in
    ``Least confident first · run 3``)."""
    text = order.describe(class_names)
    if order.order.ranks_by_model and model_source is not None:
        text += f" · {model_source}"
    return text


def end_message(queue_length: int, remaining: int) -> str:
    """What the image area shows past the last image of a view (``remaining``: images left
    unlabeled in the whole dataset)."""
    if not queue_length:
        return "No images in this view.\n\npress o to choose another, q to quit"
    return (f"End of this view: {remaining} image(s) left unlabeled.\n\n"
            "← goes back · o chooses another view · q quits (labels are saved)")

"""What the labeling screen's status lines say, computed from the session alone.

``status_for`` is a pure function of a ``LabelSession``: the screen hands its result to the
status bar, the legend and the suggestions line. Tests call it without an app.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from tui_label.core.types import ImageState, QueueItem
from tui_label.labeling.session import LabelSession
from tui_label.tui.widgets.status import StatusInfo
from tui_label.tui.widgets.suggestions import review_text, suggestions_text, suspect_text

# What the suggestion keys say when they do nothing.
HIDDEN = "Suggestions are hidden: S shows them"
OFF = "Suggestions are off in this session"
OFF_HERE = ("Suggestions are off in this session (--no-suggestions or suggestions = false in "
            "tui-label.toml).")
NO_MODEL_YET = "No model yet: suggestions come after a training run (t opens the panel)."


@dataclass(frozen=True)
class StatusView:
    """The status bar's numbers, the legend's marked classes and the suggestions line (None:
    the line is hidden)."""

    info: StatusInfo
    marked: frozenset[int]
    suggestion: Text | None


def status_for(session: LabelSession, *, suggestions_shown: bool) -> StatusView:
    """The status of ``session``'s current image (or of the end of its queue)."""
    s, item = session, session.current
    state = s.state(item.id, item.path) if item is not None else None
    info = StatusInfo(
        position=min(s.pos + 1, len(s.queue)), queue_length=len(s.queue), counts=s.counts,
        per_minute=s.per_minute, path=item.path if item else "",
        label=s.label_text(item.id, state) if item is not None and state is not None else "",
        order=s.describe_order(),
    )
    marked: frozenset[int]
    if item is None or state is None:
        marked = frozenset()
    elif s.multi_label:
        marked = s.toggled(item.id, state)
    else:
        marked = state.classes if state.labeled else frozenset()
    return StatusView(info, marked, suggestion_for(s, item, state,
                                                   suggestions_shown=suggestions_shown))


def suggestion_for(session: LabelSession, item: QueueItem | None, state: ImageState | None, *,
                   suggestions_shown: bool) -> Text | None:
    """The suggestions line: the model's top classes, or in the suspect queue the given
    label beside the model's, or in the review queue each annotator's label; None without a
    model or when suggestions are off."""
    s = session
    if s.order.order.source == "disagreements":  # each annotator's label, to settle
        return review_text(s.opinions(item.id)) if item is not None else None
    if s.model is None or not suggestions_shown:
        return None
    source, warnings = s.model.source(), s.model.warnings(s.newer_labels)
    names = s.class_names
    if item is None:  # the end of a view: the line stays (the layout does not jump)
        return Text(f"model: {source}", style="dim")
    suspect = s.suspect(item.id)
    if suspect is not None:
        given = state.class_id if state is not None and state.labeled else None
        return suspect_text(names.get(given, "?") if given else "none",
                            names.get(suspect["predicted_class"], "?"),
                            suspect["probability"], source, warnings)
    top = s.suggestions(item.id)
    return suggestions_text([(names.get(c, "?"), p) for c, p in top], source, warnings)


def confusion_notice(session: LabelSession) -> str | None:
    """After switching to a confusion cell's queue: what it holds (M's matrix counts the same
    images). None for every other order."""
    order = session.order
    if order.order.name != "confusion":
        return None
    names, count = session.class_names, len(session.queue)
    return (f"{names.get(order.class_id)} → {names.get(order.other_id)}: "
            f"{count} labeled image{'s' if count != 1 else ''} by the out-of-sample "
            f"predictions, else the model's")

"""One line under the image: the model's top suggestions with their confidence, the model they
come from, and whether it is out of date; in the suspect queue, the given label beside the
model's class."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui_label.tui import styles


def suggestions_text(top: list[tuple[str, float]], source: str, warnings: list[str]) -> Text:
    """``suggest  7 92% · 1 5% · 9 1%   a accepts   run 3 · 12 labels newer than run 3``.

    ``top``: class names (user data: plain Text, never markup) and probabilities, best first.
    """
    text = Text("suggest ", style="dim")
    if not top:
        text.append(" no prediction for this image", style="italic")
    top = top[:1] + [(name, p) for name, p in top[1:] if p >= 0.005]  # no "0%" entries
    for n, (name, p) in enumerate(top):
        text.append("  " if n == 0 else " · ", style="dim")
        text.append(name, style="bold" if n == 0 else "")
        text.append(f" {p:.0%}", style="bold" if n == 0 else "dim")
    if top:
        text.append("   a accepts", style="dim")
    return _source(text, source, warnings)


def suspect_text(given: str, predicted: str, probability: float, source: str,
                 warnings: list[str]) -> Text:
    """``given cat · model says dog 87%   = keeps it · a class key relabels   run 3``."""
    text = Text("given ", style="dim")
    text.append(given, style="bold")
    text.append(" · model says ", style="dim")
    text.append(predicted, style=styles.WARNING)
    text.append(f" {probability:.0%}", style="bold")
    text.append("   = keeps it · a class key relabels", style="dim")
    return _source(text, source, warnings)


def review_text(opinions: list[tuple[str, str]]) -> Text:
    """``annotators  alice cat · bob dog   a class key settles it``.

    ``opinions``: each annotator's name and label (user data: plain Text, never markup).
    """
    text = Text("annotators ", style="dim")
    if not opinions:
        text.append(" settled", style="italic")
    for n, (who, name) in enumerate(opinions):
        text.append("  " if n == 0 else " · ", style="dim")
        text.append(who)
        text.append(" ")
        text.append(name, style="bold")
    text.append("   a class key settles it (a review)", style="dim")
    return text


def _source(text: Text, source: str, warnings: list[str]) -> Text:
    text.append(f"   {source}", style="dim")
    for warning in warnings:
        text.append(" · ", style="dim")
        text.append(warning, style=styles.WARNING)
    return text


class Suggestions(Static):
    """Shown only when there is a model and suggestions are on (its height never changes from
    image to image: the picture above keeps its size)."""

    DEFAULT_CSS = """
    Suggestions { height: 1; padding: 0 1; background: $boost; display: none; }
    """

    def say(self, text: Text | None) -> None:
        """Show ``text``; None hides the line."""
        if text is None:
            if self.display:
                self.display = False
            return
        self.update(text)
        if not self.display:
            self.display = True

"""The labeler's fixed key bindings, as data.

Headless on purpose: the config validates class hotkeys against these keys and the help screen
lists them, without either importing textual. Key names are Textual's (``question_mark``,
``space``, ``ctrl+z``); ``display`` is what a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeySpec:
    keys: str  # comma-separated Textual key names
    action: str
    description: str
    display: str
    help: str  # the longer text of the help screen
    show: bool = True  # shown in the footer

    @property
    def help_keys(self) -> str:
        names = {"question_mark": "?", "left": "←", "right": "→"}
        return ", ".join(names.get(k, k) for k in self.keys.split(","))


BINDINGS: tuple[KeySpec, ...] = (
    KeySpec("space", "skip", "Skip", "space", "Skip: record a skip and go to the next image"),
    KeySpec("left,h", "previous", "Previous", "←/h", "Previous image"),
    KeySpec("right,l", "next", "Next", "→/l", "Next image (no label)"),
    KeySpec("u,ctrl+z", "undo", "Undo", "u", "Undo the last label or skip, back to that image"),
    KeySpec("o", "choose_order", "Order", "o",
            "Order: unlabeled first, all, skipped only, or one class"),
    KeySpec("t", "toggle_training", "Train", "t", "Show or hide the training panel"),
    KeySpec("T", "start_stop_training", "Start/stop", "T",
            "Start or stop fine-tuning on the labels so far", show=False),
    # Upper case, like T: a lower-case letter would take a class hotkey away.
    KeySpec("M", "show_metrics", "Metrics", "M",
            "Metrics of the last training run, full screen (per class, confusion matrix)",
            show=False),
    KeySpec("question_mark", "help", "Help", "?", "Help: this list"),
    KeySpec("q", "quit", "Quit", "q", "Quit (labels are already saved)"),
)

# Keys that later features take (accept suggestion, training panel) are reserved now, so a
# project's hotkeys keep working when those arrive.
RESERVED_FOR_LATER = {"a": "accept suggestion", "enter": "accept suggestion"}


def reserved_keys() -> dict[str, str]:
    """Every single-character key the labeler uses itself, with what it does."""
    used = {}
    for spec in BINDINGS:
        for key in spec.keys.split(","):
            if len(key) == 1:
                used[key] = spec.description.lower()
    used.update({k: v for k, v in RESERVED_FOR_LATER.items() if len(k) == 1})
    return used


DEFAULT_HOTKEYS = "1234567890" + "abcdefghijklmnopqrstuvwxyz"

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
    show: bool = True  # shown in the footer


BINDINGS: tuple[KeySpec, ...] = (
    KeySpec("space", "skip", "Skip", "space", show=True),
    KeySpec("left,h", "previous", "Previous", "←/h"),
    KeySpec("right,l", "next", "Next", "→/l"),
    KeySpec("u,ctrl+z", "undo", "Undo", "u"),
    KeySpec("o", "choose_order", "Order", "o"),
    KeySpec("question_mark", "help", "Help", "?"),
    KeySpec("q", "quit", "Quit", "q"),
)

# Keys that later features take (accept suggestion, training panel) are reserved now, so a
# project's hotkeys keep working when those arrive.
RESERVED_FOR_LATER = {"a": "accept suggestion", "t": "training panel", "enter": "accept suggestion"}


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

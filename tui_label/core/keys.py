"""The labeler's fixed key bindings, as data.

Headless on purpose: the config validates class hotkeys against these keys and the help screen
lists them, without either importing textual. Key names are Textual's (``question_mark``,
``space``, ``ctrl+z``); ``display`` is what a person reads.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
        names = {"question_mark": "?", "left": "←", "right": "→", "enter": "⏎",
                 "left_square_bracket": "[", "right_square_bracket": "]", "equals_sign": "=",
                 "percent_sign": "%"}
        return ", ".join(names.get(k, k) for k in self.keys.split(","))


BINDINGS: tuple[KeySpec, ...] = (
    KeySpec("space", "skip", "Skip", "space", "Skip: record a skip and go to the next image"),
    KeySpec("left,h", "previous", "Previous", "←/h", "Previous image"),
    KeySpec("right,l", "next", "Next", "→/l", "Next image (no label)"),
    KeySpec("u,ctrl+z", "undo", "Undo", "u", "Undo the last label or skip, back to that image"),
    KeySpec("a,enter", "accept", "Accept", "a/⏎",
            "Accept the model's top suggestion as the label"),
    KeySpec("S", "toggle_suggestions", "Suggestions", "S",
            "Show or hide the model's suggestions", show=False),
    KeySpec("o", "choose_order", "Order", "o",
            "Order: unlabeled first, random, the model's (least confident, suspects, ...) "
            "or one class"),
    KeySpec("right_square_bracket", "cycle_order(1)", "Next order", "]",
            "Next order (the status line names it and the run it ranks by)", show=False),
    KeySpec("left_square_bracket", "cycle_order(-1)", "Previous order", "[",
            "Previous order", show=False),
    KeySpec("equals_sign", "confirm", "Confirm", "=",
            "In the suspect queue: keep the label (recorded as reviewed); a class key "
            "relabels", show=False),
    KeySpec("t", "toggle_training", "Train", "t", "Show or hide the training panel"),
    KeySpec("T", "start_stop_training", "Start/stop", "T",
            "Start or stop fine-tuning on the labels so far", show=False),
    KeySpec("R", "resume_training", "Resume", "R",
            "Resume the last training run where it stopped (when it was cancelled or failed "
            "after an epoch)", show=False),
    # Upper case, like T: a lower-case letter would take a class hotkey away.
    KeySpec("M", "show_metrics", "Metrics", "M",
            "Metrics of the last training run, full screen (per class, confusion matrix; "
            "enter, arrows and enter open a cell's images)",
            show=False),
    KeySpec("G", "grid", "Grid", "G", "Grid review: pages of the images ahead", show=False),
    KeySpec("L", "more_like_this", "More like this", "L",
            "More like this: its look-alikes as grid pages", show=False),
    KeySpec("C", "clusters", "Clusters", "C", "Clusters by the model, as grid pages",
            show=False),
    KeySpec("D", "duplicates", "Duplicates", "D", "Its duplicates, as a grid page of its class",
            show=False),
    # Not the s: a lower-case letter is a class hotkey (and S shows suggestions);
    # no class can have % (class keys are letters and digits).
    KeySpec("percent_sign", "show_stats", "Statistics", "%",
            "Statistics: per class, per annotator (pace, undos, skips) and the agreement "
            "between annotators", show=False),
    KeySpec("question_mark", "help", "Help", "?", "Help: this list"),
    KeySpec("q", "quit", "Quit", "q", "Quit (labels are already saved)"),
)

# Keys that later features take are reserved now, so a project's hotkeys keep working when
# those arrive (none pending: accept, a/enter, has arrived).
RESERVED_FOR_LATER: dict[str, str] = {}


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


def scheme_keys(taken: Collection[str] = ()) -> list[str]:
    """The keys of the automatic scheme, in order: ``1``-``9``, ``0``, then the lower-case
    letters the labeler does not use itself; none of ``taken``. (Upper case stays for the
    labeler's own keys, like ``T`` and ``M``: a class gets one only by name or by asking.)"""
    reserved = reserved_keys()
    return [k for k in DEFAULT_HOTKEYS if k not in reserved and k not in taken]


def own_key(name: str) -> str | None:
    """The key a class named with one ASCII letter or digit has by its name (``"0"``: ``0``),
    unless the labeler uses that key itself (``"u"``: none)."""
    if len(name) == 1 and name.isascii() and name.isalnum() and name not in reserved_keys():
        return name
    return None


def assign_hotkeys(names: Sequence[str], taken: Collection[str] = ()) -> list[str | None]:
    """Keys for new classes ``names``, none of them in ``taken`` (keys other classes have):
    a class named with one free letter or digit gets that key (``--classes 0,1,2``: ``0``,
    ``1``, ``2``); every other one the next free key of ``scheme_keys`` (``cat,dog``: ``1``,
    ``2``), None once they run out. Predictable: the same names and ``taken`` always give the
    same keys."""
    own = {name: own_key(name) for name in names}
    claimed = {key for key in own.values() if key is not None and key not in taken}
    free = iter(scheme_keys({*taken, *claimed}))
    keys: list[str | None] = []
    for name in names:
        key = own[name]
        keys.append(key if key in claimed else next(free, None))
    return keys


# What ``?`` and the README say about the scheme (the letters are today's free ones).
SCHEME_HELP = ("Class keys: a class named with one free letter or digit has it as its key "
               "(class \"0\" is 0); the others get 1-9, 0, then "
               + " ".join(k for k in scheme_keys() if k.isalpha())
               + " in order. Keys a database stores stay as they are.")

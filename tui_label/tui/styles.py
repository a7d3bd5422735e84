"""The Rich styles the widgets colour text with, readable in full colour and in a 16-colour
terminal on a light or a dark palette alike (``tests/tui/test_ansi_contrast.py``).

No ANSI colour is 4.5:1 against both a white and a black background (xterm's yellow is 1.7:1
on white, its blue 2.2:1 on black), so a colour is never text on the terminal's own
background: it is the background of black or bright white text. Never bold black: a
16-colour terminal turns bold colours 0-7 into their bright versions (black into grey).
"""

from __future__ import annotations

from dataclasses import replace

from textual.theme import BUILTIN_THEMES

WARNING = "black on yellow"  # a warning, the model's doubt
GOOD = "black on green"  # a run that finished
BAD = "bright_white on red"  # a run that failed, an error count


# The theme of a 16-colour terminal: Textual's dark ANSI theme (the terminal's own colours),
# with accents, borders and scrollbars in bright blue (3:1 or more as lines on either palette),
# footer keys in the terminal's foreground, selected text black on cyan (black on bright blue
# is 4.4:1), a list's highlighted entry bright white on blue.
_BASE = BUILTIN_THEMES["ansi-dark"]
_LINES = "ansi_bright_blue"
ANSI_THEME = replace(
    _BASE, name="tui-label-ansi", primary=_LINES, accent=_LINES,
    variables={
        **_BASE.variables, "footer-key-foreground": "ansi_default", "border": _LINES,
        "scrollbar": _LINES, "scrollbar-hover": _LINES, "scrollbar-active": _LINES,
        "scrollbar-background": "ansi_default", "scrollbar-background-hover": "ansi_default",
        "scrollbar-background-active": "ansi_default",
        "input-selection-background": "ansi_cyan", "input-selection-foreground": "ansi_black",
        "screen-selection-background": "ansi_cyan", "screen-selection-foreground": "ansi_black",
        # a list's highlighted entry: bright white, which bold leaves as it is, on blue
        "block-cursor-background": "ansi_blue", "block-cursor-foreground": "ansi_bright_white",
    },
)

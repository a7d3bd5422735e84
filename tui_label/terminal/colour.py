"""Whether the terminal shows 24-bit colour where ``COLORTERM`` does not say so.

Textual (through rich) takes 24-bit colour only from ``COLORTERM=truecolor`` (or ``24bit``);
otherwise ``TERM`` decides, and ``screen-256color``, ``tmux-256color`` or ``xterm-kitty`` get
the 256-colour palette. ``COLORTERM`` is often missing where the terminal has 24-bit colour:
ssh does not forward it, and tmux 3.3 does not set it in its panes (though it passes 24-bit
colour on to a terminal it knows takes it). So, as other tools do:

* inside tmux, tmux is asked what it knows of the terminal its client runs in: the ``RGB``
  feature (``client_termfeatures``; from the terminal's terminfo ``Tc``/``RGB`` or
  ``terminal-features``) means tmux sends 24-bit colour on as it is; without it tmux turns
  24-bit colour into the palette anyway, so nothing is gained;
* outside tmux, ``TERM`` naming a direct-colour terminfo (``xterm-direct``), or the terminal's
  own name from XTVERSION (the start-up probe's answer) being one that takes 24-bit colour.

Where nothing tells, the labeler stays with what ``TERM`` allows, and ``tui-label doctor``
says what to set. No textual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tui_label.terminal.tmux import client_features

# terminals that take 24-bit colour, by the name they give in XTVERSION (lower case)
TRUECOLOR_NAMES = ("kitty", "wezterm", "ghostty", "foot", "iterm2", "contour", "mintty",
                   "konsole")
SET_COLORTERM = ("set COLORTERM=truecolor where tui-label runs (ssh does not pass it on: "
                 "export it in the remote shell's profile)")
SET_TMUX_RGB = ("add  set -as terminal-features ',*:RGB'  to ~/.tmux.conf (or ',TERM:RGB' "
                "for the outer terminal's TERM only), then detach and attach again: tmux then "
                "passes 24-bit colour on")


@dataclass(frozen=True)
class ColourDepth:
    """``truecolor``: True (24-bit colour is used), False (the terminal, or tmux, does not take
    it), None (nothing tells: what ``TERM`` allows is used). ``hint``: what to set, if
    anything."""

    truecolor: bool | None
    why: str
    hint: str = ""


def colour_depth(env: dict[str, str], xtversion: str | None = None,
                 ask: Callable[[list[str]], str] | None = None) -> ColourDepth:
    """The verdict for the terminal of ``env`` (``xtversion``: its answer to XTVERSION, when it
    was asked; ``ask``: runs a tmux command, as for ``tui_label.terminal.tmux``)."""
    colorterm = env.get("COLORTERM", "").strip().lower()
    if colorterm in ("truecolor", "24bit"):
        return ColourDepth(True, f"COLORTERM={colorterm}")
    if env.get("TMUX"):
        return _in_tmux(client_features(env, ask))
    term = env.get("TERM", "")
    if term.endswith("-direct"):
        return ColourDepth(True, f"TERM={term} (a direct-colour terminfo)")
    name = (xtversion or "").lower()
    if any(name.startswith(known) for known in TRUECOLOR_NAMES):
        return ColourDepth(True, f"the terminal is {xtversion} (by XTVERSION), which takes "
                                 "24-bit colour")
    told = f"the terminal's name is {xtversion}" if xtversion else "the terminal gave no name"
    return ColourDepth(None, f"no COLORTERM, and {told} (XTVERSION): the colours "
                             f"TERM={term or '(none)'} allows are used", SET_COLORTERM)


def _in_tmux(features: str | None) -> ColourDepth:
    if features is None:
        return ColourDepth(None, "inside tmux, and tmux does not tell what the terminal outside "
                                 "it takes (no client attached, or tmux before 3.2)",
                           f"{SET_COLORTERM}; or, if the terminal outside tmux takes 24-bit "
                           f"colour, {SET_TMUX_RGB}")
    if {"RGB", "Tc"} & set(features.split(",")):
        return ColourDepth(True, "inside tmux, and tmux gives the terminal outside it the RGB "
                                 "feature: 24-bit colour reaches it")
    return ColourDepth(False, "inside tmux, and tmux does not give the terminal outside it the "
                              f"RGB feature (its features: {features}): tmux turns 24-bit "
                              "colour into the 256-colour palette",
                       f"if the terminal outside tmux takes 24-bit colour, {SET_TMUX_RGB}")


def report_lines(depth: ColourDepth) -> list[str]:
    """``doctor``'s lines about colour."""
    said = {True: "yes", False: "no", None: "cannot tell"}[depth.truecolor]
    lines = [f"24-bit colour: {said} ({depth.why})"]
    if depth.hint:
        lines.append(f"to get 24-bit colour: {depth.hint}")
    return lines

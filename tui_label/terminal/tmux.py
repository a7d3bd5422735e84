"""Kitty graphics inside tmux: Unicode placeholders through tmux's passthrough.

Direct placements do not get through tmux. What does: the upload wrapped for passthrough, a
virtual placement (``U=1``), and cells of U+10EEEE with diacritics, which tmux keeps like any
text and the terminal outside draws the image in (kitty 0.28 and later, Ghostty). No textual.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from tui_label.terminal.kitty.protocol import DIACRITICS, command
from tui_label.terminal.probe import draws_placeholders

# kitty's placeholder character: a cell's row and column, and the id's top byte, are told by
# the diacritics (kitty.protocol.DIACRITICS) that follow it
PLACEHOLDER = "\U0010EEEE"
_MARKS = tuple(chr(c) for c in DIACRITICS)


def passthrough(data: bytes) -> bytes:
    """``data`` (kitty graphics commands) wrapped for tmux: each escape code in a
    ``ESC P tmux; ... ESC \\`` with its ESCs doubled (tmux needs ``allow-passthrough on``)."""
    out = []
    for m in re.finditer(rb"\x1b_G[^\x1b]*\x1b\\", data):
        out.append(b"\x1bPtmux;" + m.group(0).replace(b"\x1b", b"\x1b\x1b") + b"\x1b\\")
    return b"".join(out)


def virtual_place(image_id: int, cols: int, rows: int) -> bytes:
    """A virtual placement (``U=1``): the image shows where its placeholder cells are."""
    return command({"a": "p", "U": 1, "i": image_id, "c": cols, "r": rows, "q": 2})


def placeholder_rows(image_id: int, cols: int, rows: int) -> list[str]:
    """The text of each row of an image drawn by Unicode placeholders: U+10EEEE with the
    row's and column's diacritics and the id's top byte; the rest of the id goes in the
    foreground colour."""
    if cols > len(_MARKS) or rows > len(_MARKS):
        raise ValueError(f"at most {len(_MARKS)} cells a side for Unicode placeholders")
    top = _MARKS[(image_id >> 24) & 255]
    return ["".join(PLACEHOLDER + _MARKS[r] + _MARKS[c] + top for c in range(cols))
            for r in range(rows)]


@dataclass(frozen=True)
class TmuxCheck:
    """Whether kitty graphics reach the terminal outside tmux as Unicode placeholders."""

    usable: bool
    why: str


def tmux_placeholders(env: dict[str, str], ask: Callable[[list[str]], str] | None = None
                      ) -> TmuxCheck:
    """Asks tmux (``ask`` runs a tmux command and returns its output) whether passthrough is
    on and which terminal the client runs in: kitty 0.28 and later and Ghostty draw Unicode
    placeholders. Replies to graphics queries do not come back through tmux, so tmux's own
    record of the client terminal (``client_termtype``, from its XTVERSION) is what tells."""
    if not env.get("TMUX"):
        return TmuxCheck(False, "not inside tmux")
    ask = ask or _ask_tmux
    target = ["-t", env["TMUX_PANE"]] if env.get("TMUX_PANE") else []
    try:
        answer = ask(["display-message", "-p", *target,
                      "#{allow-passthrough}|#{client_termtype}|#{client_termname}"])
    except (OSError, ValueError) as exc:
        return TmuxCheck(False, f"tmux did not answer ({exc})")
    passthrough_on, _, rest = answer.strip().partition("|")
    termtype, _, termname = rest.partition("|")
    if passthrough_on not in ("1", "on", "all"):
        return TmuxCheck(False, "tmux's allow-passthrough is off "
                                "(tmux set -g allow-passthrough on)")
    outer = termtype or termname or "unknown"
    if draws_placeholders(f"{termtype} {termname}"):  # the one rule, as for XTVERSION
        return TmuxCheck(True, f"passthrough on, the terminal is {outer}")
    return TmuxCheck(False, f"passthrough on, but the terminal outside tmux ({outer}) is not "
                            "known to draw Unicode placeholders (kitty 0.28+, Ghostty)")


def client_features(env: dict[str, str], ask: Callable[[list[str]], str] | None = None
                    ) -> str | None:
    """The features tmux gives the terminal its client runs in (``client_termfeatures``,
    comma-separated: from that terminal's terminfo, ``terminal-features`` and what it answered),
    or None where tmux does not tell (not inside tmux, no client attached, tmux before 3.2,
    no answer)."""
    if not env.get("TMUX"):
        return None
    target = ["-t", env["TMUX_PANE"]] if env.get("TMUX_PANE") else []
    try:
        answer = (ask or _ask_tmux)(["display-message", "-p", *target,
                                      "#{client_termfeatures}"])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return answer.strip() or None


def _ask_tmux(args: list[str]) -> str:
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=2)
    if done.returncode != 0:
        raise ValueError(done.stderr.strip() or f"exit {done.returncode}")
    return done.stdout

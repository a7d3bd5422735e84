"""What the terminal answers: kitty graphics replies and device attributes, taken out of the
input before it is read as keys. No textual."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """The terminal's answer to a graphics command, ``ESC _G i=ID;OK ESC \\``, or to the
    device attributes query (``image_id`` 0, ``attributes`` set)."""

    image_id: int = 0
    message: str = ""
    attributes: tuple[int, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.message == "OK"


def parse_reply(text: str) -> Reply | None:
    """The reply in one APC sequence (``ESC _G keys;message ESC \\``), or None."""
    m = re.fullmatch(r"\x1b_G([^;\x1b]*);?([^\x1b]*)\x1b\\", text)
    if m is None:
        return None
    keys = dict(kv.split("=", 1) for kv in m.group(1).split(",") if "=" in kv)
    try:
        image_id = int(keys.get("i", "0"))
    except ValueError:
        image_id = 0
    return Reply(image_id, m.group(2))


_MAX_REPLY = 4096  # longer than any reply: such "APC" text is passed on as typed
_SIZE_REPORTS = ("4", "6", "8")  # CSI 4/6/8 ; h ; w t: the window's or a cell's size

Match = tuple[int, Reply | None, bool]  # (end, reply, partial)
_NONE: Match = (0, None, False)  # not a reply: passed on as typed
_PARTIAL: Match = (0, None, True)  # could still become a reply


def _string(text: str, esc: int, body: int) -> tuple[int, bool]:
    """(end, partial) of a string ended by ST (``ESC \\``) whose body starts at ``esc +
    body``; end 0 when not (yet) ended."""
    end = text.find("\x1b\\", esc + body)
    if end < 0:
        return 0, len(text) - esc < _MAX_REPLY
    return end + 2, False


def _match_string(text: str, esc: int, graphics: bool) -> Match:
    """A DCS string (``ESC P``: XTVERSION's answer, say) or a kitty graphics reply."""
    end, partial = _string(text, esc, 3 if graphics else 2)
    if not end:
        return 0, None, partial
    reply = (parse_reply(text[esc:end]) or Reply()) if graphics else Reply()
    return end, reply, False


def _match_csi(text: str, esc: int) -> Match:
    """``CSI params t`` (a size report), ``CSI ? params c`` (device attributes) and ``CSI ?
    params S`` (XTSMGRAPHICS: item ; status ; values)."""
    private = text[esc + 2] == "?"
    start = i = esc + 3 if private else esc + 2
    while i < len(text) and (text[i].isdigit() or text[i] == ";"):
        i += 1
    if i == len(text):
        return _PARTIAL
    params, final = text[start:i], text[i]
    if private and final == "c":
        attributes = tuple(int(p) for p in params.split(";") if p.isdigit())
        return i + 1, Reply(attributes=attributes), False
    if (private and final == "S") or (
            not private and final == "t" and params.split(";")[0] in _SIZE_REPORTS):
        return i + 1, Reply(), False
    return _NONE


class ReplyFilter:
    """Takes the terminal's replies out of the input before it is parsed as keys.

    ``feed(text)`` returns the text with every kitty graphics reply (``ESC _G ... ESC \\``)
    and every device attributes reply (``CSI ? ... c``) removed, and the replies. The other
    answers of the start-up probe are dropped too, should one come after the probe's time
    limit: XTVERSION and any other DCS string (``ESC P ... ESC \\``), the cell size (``CSI 6 ;
    h ; w t``, and ``4``/``8`` for the window) and XTSMGRAPHICS (``CSI ? ... S``); Textual
    would read them as key presses (a class key among them). A reply cut
    across two reads is held back until its end arrives; ``flush()`` gives back held text
    that never became a reply (an Escape key press, say) once the caller has waited long
    enough.
    """

    def __init__(self) -> None:
        self._held = ""
        self.held_since: float | None = None

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def feed(self, text: str, now: float | None = None) -> tuple[str, list[Reply]]:
        text = self._held + text
        self._held = ""
        out: list[str] = []
        replies: list[Reply] = []
        pos = 0
        while (esc := text.find("\x1b", pos)) >= 0:
            out.append(text[pos:esc])
            end, reply, partial = self._match(text, esc)
            if partial:
                self._held = text[esc:]
                self.held_since = time.monotonic() if now is None else now
                return "".join(out), replies
            if reply is not None:
                replies.append(reply)
                pos = end
            else:
                out.append("\x1b")
                pos = esc + 1
        out.append(text[pos:])
        self.held_since = None
        return "".join(out), replies

    def flush(self) -> str:
        held, self._held, self.held_since = self._held, "", None
        return held

    @staticmethod
    def _match(text: str, esc: int) -> Match:
        """(end, reply, partial) for the escape sequence starting at ``esc``."""
        rest = text[esc + 1:esc + 3]
        if rest in ("", "_", "[", "P"):
            return _PARTIAL
        if rest[0] == "P" or rest == "_G":
            return _match_string(text, esc, graphics=rest == "_G")
        if rest[0] == "[" and (rest[1].isdigit() or rest[1] == "?"):
            return _match_csi(text, esc)
        return _NONE

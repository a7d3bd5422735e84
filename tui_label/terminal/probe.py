"""What the terminal is, what it answers, and which renderer ``auto`` uses (``tui-label doctor``,
tui_label/cli/doctor.py, prints ``report``).

The labeler asks the same questions before Textual starts (``detect``), in two rounds:

1. primary device attributes (``CSI c``) alone: every terminal answers it, and terminals
   answer in order, so its answer marks the end of a round. A terminal that answers nothing
   costs one time limit (``PROBE_SECONDS``), is asked nothing else, and gets half blocks. If
   its answer comes late anyway, the labeler's input filter (``KittyDriver``, used for every
   renderer) takes it out of the keys.
2. only once the terminal has answered: cell size (``CSI 16 t``), XTVERSION (name and
   version), a kitty graphics query (not inside tmux: ``SECOND_ROUND_IN_TMUX``), the largest
   sixel image (XTSMGRAPHICS, only where the device attributes say sixel), and ``CSI c``
   again. Some of these answers would reach Textual as key presses if they came late, so
   they are asked only of a terminal known to answer, with a time limit scaled to the round
   trip just measured (at most ``SECOND_ROUND_MAX`` seconds).

While a round runs the terminal is in no-echo mode, and input still unread at the end is
discarded before echo comes back, so a reply is never printed as stray characters. No
textual here.
"""

from __future__ import annotations

import os
import re
import select
import sys
import time
from dataclasses import dataclass
from typing import Protocol

KITTY_QUERY_ID = 31
FIRST_ROUND = "\x1b[c"  # primary device attributes: the sentinel, answered by every terminal
KITTY_QUERY = f"\x1b_Gi={KITTY_QUERY_ID},s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"  # kitty graphics
SECOND_ROUND = (
    "\x1b[16t"  # cell size in pixels
    "\x1b[>0q"  # XTVERSION: name and version
    + KITTY_QUERY
    + "\x1b[c"  # the sentinel again
)
# inside tmux, without the kitty graphics query: tmux takes an APC (ESC _ ... ESC \) for a
# pane title (GNU screen's way) and shows it in its status bar, and no answer would come back
# through tmux anyway (tui_label.terminal.tmux asks tmux about the terminal instead)
SECOND_ROUND_IN_TMUX = SECOND_ROUND.replace(KITTY_QUERY, "")
# a terminal with sixel (4 in its device attributes) is also asked XTSMGRAPHICS, the largest
# sixel image it draws (xterm: none over 1000x1000); kitty logs that query as a parse error
SIXEL_SIZE_QUERY = "\x1b[?2;1;0S"
PROBE_SECONDS = 1.0  # the first round's limit: what a silent terminal costs at start-up
SECOND_ROUND_MAX = 3.0
_DA1 = re.compile(r"\x1b\[\?([\d;]*)c")
_XTVERSION = re.compile(r"\x1bP>\|([^\x1b]*)\x1b\\")
_KITTY = re.compile(r"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\")
_CELL = re.compile(r"\x1b\[6;(\d+);(\d+)t")
_SIXEL_MAX = re.compile(r"\x1b\[\?2;0;(\d+);(\d+)S")
_KITTY_VERSION = re.compile(r"kitty\((\d+)\.(\d+)")
PLACEHOLDERS_SINCE = (0, 28)  # kitty draws Unicode placeholders from 0.28


@dataclass
class Replies:
    """What the terminal answered (None: no answer within the time limit)."""

    device_attributes: list[int] | None = None
    xtversion: str | None = None
    kitty_graphics: str | None = None  # the status, "OK" or an error
    cell_size: tuple[int, int] | None = None  # (width, height) pixels, from CSI 16 t
    sixel_max: tuple[int, int] | None = None  # the largest sixel image, from XTSMGRAPHICS
    complete: bool = False  # every round's sentinel arrived: no more answers are coming
    raw: str = ""
    seconds: float = 0.0
    round_trip: float | None = None  # seconds from the first round's queries to its sentinel


def parse_replies(text: str, rounds: int = 1) -> Replies:
    """The answers found in ``text`` (everything read back from the terminal); ``complete``
    when ``rounds`` sentinels arrived."""
    replies = Replies(raw=text)
    sentinels = _DA1.findall(text)
    if sentinels:
        replies.device_attributes = [int(p) for p in sentinels[0].split(";") if p.isdigit()]
        replies.complete = len(sentinels) >= rounds
    if m := _XTVERSION.search(text):
        replies.xtversion = m.group(1)
    for m in _KITTY.finditer(text):
        if f"i={KITTY_QUERY_ID}" in m.group(1).split(","):
            replies.kitty_graphics = m.group(2)
    if m := _CELL.search(text):
        replies.cell_size = (int(m.group(2)), int(m.group(1)))
    if m := _SIXEL_MAX.search(text):
        replies.sixel_max = (int(m.group(1)), int(m.group(2)))
    return replies


def _ask(fd_in: int, fd_out: int, queries: str, text: str, sentinels: int,
         deadline: float) -> str:
    """Write ``queries``; read until ``text`` holds ``sentinels`` device attribute answers or
    the deadline passes."""
    os.write(fd_out, queries.encode())
    while len(_DA1.findall(text)) < sentinels:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd_in], [], [], left)[0]:
            break
        data = os.read(fd_in, 4096)
        if not data:
            break
        text += data.decode("utf-8", "replace")
    return text


def probe(fd_in: int, fd_out: int, timeout: float = PROBE_SECONDS, *,
          tmux: bool = False) -> Replies:
    """Ask the terminal in two rounds (see the module's docstring); never longer than
    ``timeout`` plus ``SECOND_ROUND_MAX`` seconds. ``tmux``: inside tmux (no kitty graphics
    query, see ``SECOND_ROUND_IN_TMUX``)."""
    import termios

    start = time.monotonic()
    saved = termios.tcgetattr(fd_in)
    quiet = termios.tcgetattr(fd_in)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)  # lflag: no echo, byte by byte
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 0, 0
    text, rounds, round_trip = "", 1, None
    try:
        termios.tcsetattr(fd_in, termios.TCSANOW, quiet)
        text = _ask(fd_in, fd_out, FIRST_ROUND, text, 1, start + timeout)
        if m := _DA1.search(text):
            round_trip = time.monotonic() - start
            limit = min(SECOND_ROUND_MAX, max(timeout, 8 * round_trip))
            rounds = 2
            sixel = "4" in m.group(1).split(";")
            second = SECOND_ROUND_IN_TMUX if tmux else SECOND_ROUND
            second = SIXEL_SIZE_QUERY + second if sixel else second
            text = _ask(fd_in, fd_out, second, text, 2, time.monotonic() + limit)
    finally:
        termios.tcflush(fd_in, termios.TCIFLUSH)  # late answers never reach the shell
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    replies = parse_replies(text, rounds)
    replies.seconds = time.monotonic() - start
    replies.round_trip = round_trip
    return replies


def placeholder_support(replies: Replies | None) -> bool | None:
    """Whether the terminal draws kitty graphics through Unicode placeholders (the way
    through tmux): True, False, or None when its answers do not tell.

    By XTVERSION: kitty from 0.28 and Ghostty do; kitty before 0.28, WezTerm and Konsole
    answer the graphics query but do not (WezTerm draws a virtual placement at the cursor,
    kitty 0.26 logs "invalid key character: 0x55", both show empty boxes).
    """
    return draws_placeholders(replies.xtversion or "" if replies is not None else "")


def draws_placeholders(terminal: str) -> bool | None:
    """The rule of ``placeholder_support`` for a terminal's name and version as it gives them
    (XTVERSION's ``kitty(0.26.5)``, tmux's ``client_termtype``); None: not known."""
    version = terminal.lower()
    if m := _KITTY_VERSION.search(version):
        return (int(m.group(1)), int(m.group(2))) >= PLACEHOLDERS_SINCE
    if "ghostty" in version:
        return True
    if "wezterm" in version or "konsole" in version:
        return False
    return None


@dataclass(frozen=True)
class Detection:
    """What the labeler's ``--renderer auto`` found, and why it chose as it did."""

    replies: Replies | None  # None: not asked (stdin or stdout is not a terminal)
    renderer: str
    reason: str


def detect(timeout: float = PROBE_SECONDS, stdin=None, stdout=None) -> Detection:
    """Probe the terminal on ``stdin``/``stdout`` (the process's own by default) and choose
    the renderer ``auto`` uses. Call it before Textual starts."""
    stdin = stdin or sys.__stdin__
    stdout = stdout or sys.__stdout__
    stdin_tty = bool(stdin and stdin.isatty())
    stdout_tty = bool(stdout and stdout.isatty())
    replies = None
    if stdin_tty and stdout_tty:
        stdout.flush()
        replies = probe(stdin.fileno(), stdout.fileno(), timeout,
                        tmux=bool(os.environ.get("TMUX")))
    renderer, reason = auto_renderer(stdout_tty, replies)
    return Detection(replies, renderer, reason)


def auto_renderer(is_tty: bool, replies: Replies | None) -> tuple[str, str]:
    """The renderer ``--renderer auto`` picks, and why.

    Sixel first, then kitty graphics (textual-image's order). Kitty graphics are placed
    directly at the cursor (tui_label.terminal.kitty), so a terminal without Unicode placeholders
    (kitty before 0.28) draws them too. Anything else: half blocks.
    """
    if not is_tty:
        return "unicode", "stdout is not a terminal"
    if replies is None:
        return "halfcell", "stdin is not a terminal, so nothing can be asked"
    if replies.device_attributes and 4 in replies.device_attributes:
        return "sixel", "the device attributes include 4 (sixel graphics)"
    if replies.kitty_graphics == "OK":
        placeholders = placeholder_support(replies)
        how = {True: "", None: "; placed directly, Unicode placeholders are not needed",
               False: "; no Unicode placeholders here, placed directly"}[placeholders]
        return "kitty", f"the terminal answered the kitty graphics query with OK{how}"
    if replies.device_attributes is None:
        return "halfcell", ("no answer to the device attributes query within the time limit "
                            "(a silent terminal, or a very slow link)")
    return "halfcell", "no sixel in the device attributes and no OK to the kitty graphics query"


def warnings(env: dict[str, str], replies: Replies | None, renderer: str) -> list[str]:
    """What may go wrong with ``renderer`` here, as far as the answers tell."""
    found = []
    placeholders = placeholder_support(replies)
    if renderer == "kitty" and env.get("TMUX"):
        found.append("inside tmux, kitty graphics placed at the cursor may land in the wrong "
                     "place; use --renderer halfcell if they do")
    if placeholders is False and replies is not None:
        found.append(f"{replies.xtversion} draws no Unicode placeholders (kitty 0.28 and "
                     "later, and Ghostty, do): kitty graphics are placed directly instead, "
                     "which tmux cannot pass through")
    if env.get("TMUX") and renderer == "halfcell":
        found.append("inside tmux, graphics queries reach tmux, not the terminal: half "
                     "blocks are used")
    if replies is not None and not replies.complete:
        found.append("the terminal did not answer every query in time; a slow link or a "
                     "multiplexer may be in the way")
    return found


def _show(value: object) -> str:
    return "(none)" if value in (None, "") else str(value)


class PassthroughCheck(Protocol):
    """The tmux check's verdict (``tui_label.terminal.tmux.TmuxCheck``)."""

    @property
    def usable(self) -> bool: ...

    @property
    def why(self) -> str: ...


def in_tmux(renderer: str, why: str, tmux: PassthroughCheck | None) -> tuple[str, str]:
    """The labeler's choice inside tmux (``tmux``: the check of
    ``tui_label.terminal.tmux.tmux_placeholders``): kitty graphics only as Unicode
    placeholders through passthrough, else half blocks."""
    if tmux is None or renderer not in ("kitty", "halfcell"):
        return renderer, why
    if tmux.usable:
        return "kitty", f"inside tmux, Unicode placeholders through passthrough ({tmux.why})"
    return "halfcell", f"inside tmux, kitty graphics need Unicode placeholders through " \
                       f"passthrough: {tmux.why}"


def report(env: dict[str, str], stdin_tty: bool, stdout_tty: bool, size: str,
           replies: Replies | None, timeout: float,
           tmux: PassthroughCheck | None = None) -> list[str]:
    """The lines ``doctor`` prints (``tmux``: the passthrough check, inside tmux)."""
    lines = [
        f"TERM: {_show(env.get('TERM'))}",
        f"TERM_PROGRAM: {_show(env.get('TERM_PROGRAM'))} "
        f"{env.get('TERM_PROGRAM_VERSION', '')}".rstrip(),
        f"COLORTERM: {_show(env.get('COLORTERM'))}",
        f"TMUX: {'yes' if env.get('TMUX') else 'no'}",
        f"stdin is a terminal: {'yes' if stdin_tty else 'no'}; "
        f"stdout is a terminal: {'yes' if stdout_tty else 'no'}",
        f"window size: {size}",
    ]
    if replies is None:
        lines.append("queries: not sent (stdin and stdout must both be a terminal)")
    else:
        state = "all answered" if replies.complete else f"no reply within {timeout:g} s"
        trip = f", round trip {replies.round_trip * 1000:.0f} ms" \
            if replies.round_trip is not None else ""
        placeholders = {True: "yes", False: "no", None: "unknown"}[placeholder_support(replies)]
        lines += [
            f"queries: {state} ({replies.seconds * 1000:.0f} ms{trip})",
            f"XTVERSION: {_show(replies.xtversion)}",
            "device attributes: " + (_show(";".join(map(str, replies.device_attributes)))
                                     if replies.device_attributes is not None else "(none)"),
            f"sixel graphics: {'yes' if 4 in (replies.device_attributes or []) else 'no'}",
            f"kitty graphics: {_show(replies.kitty_graphics)}",
            f"kitty Unicode placeholders (by XTVERSION): {placeholders}",
            "cell size (CSI 16 t): " + (f"{replies.cell_size[0]}x{replies.cell_size[1]} px"
                                        if replies.cell_size else "(none)"),
            "largest sixel image (XTSMGRAPHICS): " + (
                f"{replies.sixel_max[0]}x{replies.sixel_max[1]} px (larger images are made "
                "smaller to fit)" if replies.sixel_max else "(none)"),
        ]
    if tmux is not None:
        lines.append(f"tmux passthrough for kitty graphics: {'yes' if tmux.usable else 'no'} "
                     f"({tmux.why})")
    renderer, why = in_tmux(*auto_renderer(stdout_tty, replies), tmux)
    lines.append(f"renderer auto uses: {renderer} ({why})")
    lines += [f"warning: {w}" for w in warnings(env, replies, renderer)]
    return lines

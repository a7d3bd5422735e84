"""``tui-label doctor``: what the terminal is, what it answers, and which renderer ``auto`` uses.

The probe writes its queries once, all together, with primary device attributes (``CSI c``)
last: every terminal answers that one, and terminals answer in order, so its reply means the
others have arrived or never will. The whole probe has one time limit; while it runs the
terminal is in no-echo mode, and input still unread at the end is discarded before echo comes
back, so a reply that arrives late is not printed as stray characters.

No textual: the queries are the ones textual-image sends at start-up (``CSI c`` for sixel,
a kitty graphics query), answered by the same rule it uses to choose; the probe itself is
done here, under its own time limit.
"""

from __future__ import annotations

import os
import re
import select
import sys
import time
from dataclasses import dataclass

import click

KITTY_QUERY_ID = 31
QUERIES = (
    "\x1b[>0q"  # XTVERSION: name and version
    f"\x1b_Gi={KITTY_QUERY_ID},s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"  # kitty graphics support
    "\x1b[16t"  # cell size in pixels
    "\x1b[c"  # primary device attributes: the sentinel, answered by every terminal
)
_DA1 = re.compile(r"\x1b\[\?([\d;]*)c")
_XTVERSION = re.compile(r"\x1bP>\|([^\x1b]*)\x1b\\")
_KITTY = re.compile(r"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\")
_CELL = re.compile(r"\x1b\[6;(\d+);(\d+)t")
_KITTY_VERSION = re.compile(r"kitty\((\d+)\.(\d+)")
PLACEHOLDERS_SINCE = (0, 28)  # kitty draws Unicode placeholders (textual-image's way) from 0.28


@dataclass
class Replies:
    """What the terminal answered (None: no answer within the time limit)."""

    device_attributes: list[int] | None = None
    xtversion: str | None = None
    kitty_graphics: str | None = None  # the status, "OK" or an error
    cell_size: tuple[int, int] | None = None  # (width, height) pixels, from CSI 16 t
    complete: bool = False  # the sentinel arrived: no more answers are coming
    raw: str = ""
    seconds: float = 0.0


def parse_replies(text: str) -> Replies:
    """The answers found in ``text`` (everything read back from the terminal)."""
    replies = Replies(raw=text)
    if m := _DA1.search(text):
        replies.device_attributes = [int(p) for p in m.group(1).split(";") if p.isdigit()]
        replies.complete = True
    if m := _XTVERSION.search(text):
        replies.xtversion = m.group(1)
    for m in _KITTY.finditer(text):
        if f"i={KITTY_QUERY_ID}" in m.group(1).split(","):
            replies.kitty_graphics = m.group(2)
    if m := _CELL.search(text):
        replies.cell_size = (int(m.group(2)), int(m.group(1)))
    return replies


def probe(fd_in: int, fd_out: int, timeout: float) -> Replies:
    """Send ``QUERIES`` and read the answers until the sentinel or ``timeout`` seconds."""
    import termios

    start = time.monotonic()
    saved = termios.tcgetattr(fd_in)
    quiet = termios.tcgetattr(fd_in)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)  # lflag: no echo, byte by byte
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 0, 0
    text = ""
    try:
        termios.tcsetattr(fd_in, termios.TCSANOW, quiet)
        os.write(fd_out, QUERIES.encode())
        deadline = start + timeout
        while not _DA1.search(text):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            data = os.read(fd_in, 4096)
            if not data:
                break
            text += data.decode("utf-8", "replace")
    finally:
        termios.tcflush(fd_in, termios.TCIFLUSH)  # late answers never reach the shell
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    replies = parse_replies(text)
    replies.seconds = time.monotonic() - start
    return replies


def auto_renderer(is_tty: bool, replies: Replies | None) -> tuple[str, str]:
    """The renderer ``--renderer auto`` picks, by textual-image's rule, and why."""
    if not is_tty:
        return "unicode", "stdout is not a terminal"
    if replies is None:
        return "halfcell", "stdin is not a terminal, so nothing can be asked"
    if replies.device_attributes and 4 in replies.device_attributes:
        return "sixel", "the device attributes include 4 (sixel graphics)"
    if replies.kitty_graphics == "OK":
        return "kitty", "the terminal answered the kitty graphics query with OK"
    why = "no sixel in the device attributes" if replies.device_attributes is not None \
        else "no answer to the device attributes query"
    return "halfcell", f"{why} and no OK to the kitty graphics query"


def warnings(env: dict[str, str], replies: Replies | None, renderer: str) -> list[str]:
    """What may go wrong with ``renderer`` here, as far as the answers tell."""
    found = []
    version = _KITTY_VERSION.search(replies.xtversion or "") if replies else None
    if renderer == "kitty" and version:
        if (int(version.group(1)), int(version.group(2))) < PLACEHOLDERS_SINCE:
            found.append(f"{replies.xtversion} draws no Unicode placeholders (kitty 0.28 and "
                         "later do): images would show as empty boxes; use --renderer "
                         "halfcell, or update kitty")
    elif renderer == "kitty" and replies and replies.xtversion and \
            "kitty" not in replies.xtversion.lower():
        found.append(f"{replies.xtversion} answers the kitty graphics query but may not draw "
                     "Unicode placeholders; if images show as empty boxes, use --renderer "
                     "sixel or halfcell")
    if env.get("TMUX") and renderer == "halfcell":
        found.append("inside tmux, graphics queries reach tmux, not the terminal: half "
                     "blocks are used")
    if replies is not None and not replies.complete:
        found.append("the terminal did not answer the device attributes query in time; a "
                     "slow link or a multiplexer may be in the way")
    return found


def _show(value: object) -> str:
    return "(none)" if value in (None, "") else str(value)


def report(env: dict[str, str], stdin_tty: bool, stdout_tty: bool, size: str,
           replies: Replies | None, timeout: float) -> list[str]:
    """The lines ``doctor`` prints."""
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
        lines += [
            f"queries: {state} ({replies.seconds * 1000:.0f} ms)",
            f"XTVERSION: {_show(replies.xtversion)}",
            "device attributes: " + (_show(";".join(map(str, replies.device_attributes)))
                                     if replies.device_attributes is not None else "(none)"),
            f"sixel graphics: {'yes' if 4 in (replies.device_attributes or []) else 'no'}",
            f"kitty graphics: {_show(replies.kitty_graphics)}",
            "cell size (CSI 16 t): " + (f"{replies.cell_size[0]}x{replies.cell_size[1]} px"
                                        if replies.cell_size else "(none)"),
        ]
    renderer, why = auto_renderer(stdout_tty, replies)
    lines.append(f"renderer auto uses: {renderer} ({why})")
    lines += [f"warning: {w}" for w in warnings(env, replies, renderer)]
    return lines


def _window_size(fd: int) -> str:
    import fcntl
    import struct
    import termios

    try:
        rows, cols, width, height = struct.unpack(
            "HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return "(unknown)"
    cell = f", cells {width // cols}x{height // rows} px" if width and height and cols and rows \
        else ", no pixel size"
    return f"{cols}x{rows}{cell}"


@click.command()
@click.option("--timeout", type=click.FloatRange(0.05, 10), default=1.0, show_default=True,
              help="Seconds to wait for the terminal's answers, all queries together.")
def doctor(timeout: float) -> None:
    """Show the terminal detected and which renderer auto will use, and why."""
    env = dict(os.environ)
    stdin_tty, stdout_tty = sys.stdin.isatty(), sys.stdout.isatty()
    size = _window_size(sys.stdout.fileno()) if stdout_tty else "(not a terminal)"
    replies = None
    if stdin_tty and stdout_tty:
        sys.stdout.flush()
        replies = probe(sys.stdin.fileno(), sys.stdout.fileno(), timeout)
    for line in report(env, stdin_tty, stdout_tty, size, replies, timeout):
        # answers are the terminal's words: never print control characters from them
        click.echo("".join(c if c.isprintable() else "?" for c in line))

"""``tui-label doctor``: what the terminal is, what it answers, and which renderer ``auto`` uses
(the questions and the rules are tui_label.terminal.probe's; inside tmux, the passthrough check
is tui_label.terminal.tmux's), and whether 24-bit colour is used (tui_label.terminal.colour's
rule, with what to set where it cannot tell)."""

from __future__ import annotations

import os
import struct
import sys

import click

from tui_label.cli.common import FiniteFloatRange
from tui_label.terminal.probe import PROBE_SECONDS, SECOND_ROUND_MAX, probe, report


def _window_size(fd: int) -> str:
    import fcntl  # POSIX only, as before: the CLI imports this module on any system
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
@click.option("--timeout", type=FiniteFloatRange(0.05, 10), default=PROBE_SECONDS,
              show_default=True, help="Seconds to wait for the terminal's first answer (the "
              "labeler waits as long); a terminal that answers gets a second round, its limit "
              f"scaled to the round trip, at most {SECOND_ROUND_MAX:g} s.")
def doctor(timeout: float) -> None:
    """Show the terminal detected and which renderer auto will use, and why."""
    env = dict(os.environ)
    stdin_tty, stdout_tty = sys.stdin.isatty(), sys.stdout.isatty()
    size = _window_size(sys.stdout.fileno()) if stdout_tty else "(not a terminal)"
    replies = None
    if stdin_tty and stdout_tty:
        sys.stdout.flush()
        replies = probe(sys.stdin.fileno(), sys.stdout.fileno(), timeout,
                        tmux=bool(env.get("TMUX")))
    # Here, not at the top: the CLI imports this module for every command (tmux's module
    # brings the kitty protocol and Pillow).
    from tui_label.terminal.colour import colour_depth, report_lines
    from tui_label.terminal.tmux import tmux_placeholders

    tmux = tmux_placeholders(env) if env.get("TMUX") else None
    colour = colour_depth(env, replies.xtversion if replies is not None else None)
    for line in report(env, stdin_tty, stdout_tty, size, replies, timeout, tmux) + \
            report_lines(colour):
        # answers are the terminal's words: never print control characters from them
        click.echo("".join(c if c.isprintable() else "?" for c in line))

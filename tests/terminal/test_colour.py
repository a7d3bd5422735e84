"""Whether 24-bit colour is used where COLORTERM does not say (issue 17.1), and doctor's words."""

from __future__ import annotations

import os
import threading

from tui_label.terminal.colour import colour_depth, report_lines
from tui_label.terminal.probe import KITTY_QUERY, SECOND_ROUND_IN_TMUX, probe
from tui_label.terminal.tmux import client_features

TMUX = {"TMUX": "/tmp/tmux-1000/default,77,0", "TMUX_PANE": "%3", "TERM": "screen-256color"}
TMUX_HINT = "set -as terminal-features ',*:RGB'"


def tmux_answering(answer: str, asked: list[list[str]] | None = None):
    def ask(args: list[str]) -> str:
        if asked is not None:
            asked.append(args)
        return answer
    return ask


def tmux_failing(args: list[str]) -> str:
    raise ValueError("no server running on /tmp/tmux-1000/default")


def test_colorterm_says_it_first():
    assert colour_depth({"COLORTERM": "truecolor", "TERM": "xterm"}).truecolor is True
    assert colour_depth({**TMUX, "COLORTERM": "24bit"}, ask=tmux_failing).truecolor is True


def test_inside_tmux_the_clients_rgb_feature_decides():
    asked: list[list[str]] = []
    rgb = colour_depth(TMUX, ask=tmux_answering("256,RGB,bpaste,clipboard,title\n", asked))
    assert rgb.truecolor is True and not rgb.hint
    assert asked == [["display-message", "-p", "-t", "%3", "#{client_termfeatures}"]]
    assert colour_depth(TMUX, ask=tmux_answering("256,Tc,title")).truecolor is True
    plain = colour_depth(TMUX, ask=tmux_answering("256,bpaste,clipboard,title"))
    assert plain.truecolor is False
    assert "256,bpaste,clipboard,title" in plain.why and TMUX_HINT in plain.hint
    # the pane's own XTVERSION answer is tmux's, never the terminal outside
    assert colour_depth(TMUX, "kitty(0.35.2)", tmux_answering("256,title")).truecolor is False


def test_inside_tmux_without_an_answer_it_cannot_tell_and_says_what_to_set():
    for ask in (tmux_failing, tmux_answering("\n")):  # no server; no client attached
        depth = colour_depth(TMUX, ask=ask)
        assert depth.truecolor is None
        assert "COLORTERM=truecolor" in depth.hint and TMUX_HINT in depth.hint
    assert client_features({}, tmux_answering("RGB")) is None  # not inside tmux: not asked


def test_outside_tmux_a_direct_terminfo_or_the_terminals_name_tells():
    assert colour_depth({"TERM": "xterm-direct"}).truecolor is True
    assert colour_depth({"TERM": "xterm-kitty"}, "kitty(0.26.5)").truecolor is True
    assert colour_depth({"TERM": "xterm-256color"}, "WezTerm 20240203-110809").truecolor
    assert colour_depth({"TERM": "xterm-256color"}, "ghostty 1.1.3").truecolor is True
    for name in ("XTerm(390)", None):
        depth = colour_depth({"TERM": "xterm-256color"}, name)
        assert depth.truecolor is None and "TERM=xterm-256color" in depth.why
        assert "COLORTERM=truecolor" in depth.hint and "tmux" not in depth.hint


def test_doctor_says_in_words_what_to_set():
    assert report_lines(colour_depth({"COLORTERM": "truecolor"})) == \
        ["24-bit colour: yes (COLORTERM=truecolor)"]
    unknown = report_lines(colour_depth(TMUX, ask=tmux_failing))
    assert unknown[0].startswith("24-bit colour: cannot tell (inside tmux")
    assert unknown[1].startswith("to get 24-bit colour: set COLORTERM=truecolor")
    assert TMUX_HINT in unknown[1]
    no = report_lines(colour_depth(TMUX, ask=tmux_answering("256,title")))
    assert no[0].startswith("24-bit colour: no (inside tmux")
    assert no[1].startswith("to get 24-bit colour: if the terminal outside tmux takes 24-bit "
                            f"colour, add  {TMUX_HINT}")


def probe_writes(tmux: bool) -> bytes:
    """What ``probe`` writes to a terminal that answers each device attributes query."""
    master, slave = os.openpty()
    written = bytearray()

    def terminal() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            written.extend(data)
            for _ in range(data.count(b"\x1b[c")):
                os.write(master, b"\x1b[?62;22c")

    threading.Thread(target=terminal, daemon=True).start()
    try:
        replies = probe(slave, slave, 1.0, tmux=tmux)
    finally:
        os.close(slave)
        os.close(master)
    assert replies.complete
    return bytes(written)


def test_inside_tmux_the_probe_sends_no_apc():
    # tmux takes an APC for the pane title: its status bar would show the kitty query
    assert b"\x1b_" not in SECOND_ROUND_IN_TMUX.encode()
    assert b"\x1b_" not in probe_writes(tmux=True)
    assert KITTY_QUERY.encode() in probe_writes(tmux=False)

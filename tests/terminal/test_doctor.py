"""``tui-label doctor``: the terminal's answers, the renderer auto uses, no hang, no stray bytes."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading

from tui_label.terminal.probe import (
    FIRST_ROUND,
    SECOND_ROUND,
    auto_renderer,
    parse_replies,
    placeholder_support,
    report,
    warnings,
)

KITTY_026_FIRST = "\x1b[?62;22c"
KITTY_026_SECOND = "\x1b[6;20;10t\x1bP>|kitty(0.26.5)\x1b\\\x1b_Gi=31;OK\x1b\\\x1b[?62;22c"
KITTY_026 = KITTY_026_FIRST + KITTY_026_SECOND


def test_parse_replies_reads_each_answer():
    replies = parse_replies(KITTY_026, rounds=2)
    assert replies.xtversion == "kitty(0.26.5)"
    assert replies.kitty_graphics == "OK"
    assert replies.device_attributes == [62, 22]
    assert replies.cell_size == (10, 20)
    assert replies.complete
    assert not parse_replies(KITTY_026_FIRST, rounds=2).complete  # the second round is out


def test_parse_replies_reads_the_largest_sixel_image():
    assert parse_replies("\x1b[?2;0;1000;1000S\x1b[?62;4c").sixel_max == (1000, 1000)
    assert parse_replies("\x1b[?2;3;0S\x1b[?62;4c").sixel_max is None  # an error status


def test_auto_prefers_sixel_then_kitty_then_half_blocks():
    assert auto_renderer(True, parse_replies("\x1b[?62;4;22c"))[0] == "sixel"
    assert auto_renderer(True, parse_replies(KITTY_026))[0] == "kitty"
    assert auto_renderer(True, parse_replies("\x1b[?62;22c"))[0] == "halfcell"
    assert auto_renderer(True, parse_replies(""))[0] == "halfcell"
    assert auto_renderer(True, None)[0] == "halfcell"
    assert auto_renderer(False, None)[0] == "unicode"


def test_placeholder_support_by_xtversion():
    def version(v: str) -> bool | None:
        return placeholder_support(parse_replies(f"\x1bP>|{v}\x1b\\\x1b[?62c"))

    assert version("kitty(0.26.5)") is False
    assert version("kitty(0.27.1)") is False
    assert version("kitty(0.28.0)") is True
    assert version("kitty(0.35.2)") is True
    assert version("ghostty 1.1.3") is True
    assert version("WezTerm 20240203-110809-5046fc22") is False
    assert version("XTerm(390)") is None
    assert placeholder_support(parse_replies("\x1b[?62c")) is None
    assert placeholder_support(None) is None


def test_old_kitty_is_told_about_placeholders_and_still_gets_kitty():
    # our kitty graphics are placed directly: kitty 0.26 draws them (no wall of boxes)
    renderer, why = auto_renderer(True, parse_replies(KITTY_026))
    assert renderer == "kitty" and "placed directly" in why
    old = warnings({}, parse_replies(KITTY_026, rounds=2), "kitty")
    assert any("no Unicode placeholders" in w for w in old)
    new = parse_replies(KITTY_026.replace("0.26.5", "0.32.2"), rounds=2)
    assert not warnings({}, new, "kitty")


def run_doctor_in_pty(answers: tuple[str, str] | None, timeout: float = 0.5
                      ) -> tuple[int, str]:
    """Run ``tui-label doctor`` on a pty; ``answers`` to the first and second round are
    written back once that round's queries arrive (None: the terminal stays silent). Returns
    the exit code and everything it wrote."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tui_label", "doctor", "--timeout",
                             str(timeout)], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True,  # a terminal of its own, not tmux's
                            env={k: v for k, v in os.environ.items()
                                 if k not in ("TMUX", "TMUX_PANE")})
    os.close(slave)
    out = bytearray()

    def read() -> None:
        pending = list(zip((FIRST_ROUND, SECOND_ROUND), answers, strict=True)) if answers \
            else []
        while True:
            ready = select.select([master], [], [], 30)[0]
            if not ready:
                return
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed its end
                return
            if not data:
                return
            out.extend(data)
            if pending and pending[0][0].encode() in out:
                os.write(master, pending.pop(0)[1].encode())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = proc.wait(60)  # a hang fails here, not a timing measurement
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    os.close(master)
    return code, out.decode("utf-8", "replace")


def report_part(output: str, rounds: int = 2) -> str:
    # the second round is only asked of a terminal that answered the first
    asked = FIRST_ROUND + SECOND_ROUND if rounds == 2 else FIRST_ROUND
    assert output.startswith(asked)
    report = output[len(asked):]
    assert "\x1b[" not in report  # asked once, nothing after
    return report


def test_silent_terminal_returns_and_falls_back_to_half_blocks():
    code, output = run_doctor_in_pty(None)
    assert code == 0
    report = report_part(output, rounds=1)
    assert "queries: no reply within 0.5 s" in report
    assert "renderer auto uses: halfcell" in report
    assert "\x1b" not in report and "^[" not in report


def test_answering_terminal_is_reported_without_echoing_the_answers():
    code, output = run_doctor_in_pty((KITTY_026_FIRST, KITTY_026_SECOND))
    assert code == 0
    report = report_part(output)
    assert "queries: all answered" in report
    assert "XTVERSION: kitty(0.26.5)" in report
    assert "kitty graphics: OK" in report
    assert "renderer auto uses: kitty" in report
    assert "kitty Unicode placeholders (by XTVERSION): no" in report
    assert "warning: kitty(0.26.5) draws no Unicode placeholders" in report
    assert "\x1b" not in report and "^[" not in report  # the answers were not echoed


def test_inside_tmux_the_report_follows_the_passthrough_check():
    from tui_label.terminal.tmux import TmuxCheck

    env = {"TMUX": "/tmp/tmux-0/default,1,0"}
    tmux_da = parse_replies("\x1b[?62;22c\x1b[6;20;10t\x1bP>|tmux 3.3a\x1b\\\x1b[?62;22c", 2)
    usable = report(env, True, True, "80x24", tmux_da, 1.0,
                    TmuxCheck(True, "passthrough on, the terminal is kitty(0.35.2)"))
    assert "tmux passthrough for kitty graphics: yes (passthrough on, the terminal is " \
           "kitty(0.35.2))" in usable
    assert any(line.startswith("renderer auto uses: kitty (inside tmux") for line in usable)
    off = report(env, True, True, "80x24", tmux_da, 1.0,
                 TmuxCheck(False, "tmux's allow-passthrough is off"))
    assert any(line.startswith("renderer auto uses: halfcell (inside tmux") and
               "allow-passthrough is off" in line for line in off)
    # sixel through tmux (tmux built with sixel answers 4) stays sixel
    sixel = report(env, True, True, "80x24", parse_replies("\x1b[?62;4c"), 1.0,
                   TmuxCheck(False, "off"))
    assert any(line.startswith("renderer auto uses: sixel") for line in sixel)

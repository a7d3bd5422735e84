"""``tui-label doctor``: the terminal's answers, the renderer auto uses, no hang, no stray bytes."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading

from tui_label.doctor import QUERIES, auto_renderer, parse_replies, warnings

KITTY_026 = "\x1bP>|kitty(0.26.5)\x1b\\\x1b_Gi=31;OK\x1b\\\x1b[6;20;10t\x1b[?62;22c"


def test_parse_replies_reads_each_answer():
    replies = parse_replies(KITTY_026)
    assert replies.xtversion == "kitty(0.26.5)"
    assert replies.kitty_graphics == "OK"
    assert replies.device_attributes == [62, 22]
    assert replies.cell_size == (10, 20)
    assert replies.complete


def test_auto_follows_textual_image_rule():
    assert auto_renderer(True, parse_replies("\x1b[?62;4;22c"))[0] == "sixel"
    assert auto_renderer(True, parse_replies(KITTY_026))[0] == "kitty"
    assert auto_renderer(True, parse_replies("\x1b[?62;22c"))[0] == "halfcell"
    assert auto_renderer(True, parse_replies(""))[0] == "halfcell"
    assert auto_renderer(True, None)[0] == "halfcell"
    assert auto_renderer(False, None)[0] == "unicode"


def test_old_kitty_is_warned_about_placeholders_new_one_is_not():
    old = warnings({}, parse_replies(KITTY_026), "kitty")
    assert any("placeholders" in w for w in old)
    new = parse_replies(KITTY_026.replace("0.26.5", "0.32.2"))
    assert not warnings({}, new, "kitty")


def run_doctor_in_pty(answer: str | None, timeout: float = 0.5) -> tuple[int, str]:
    """Run ``tui-label doctor`` on a pty; ``answer`` is written back once the queries arrive
    (None: the terminal stays silent). Returns the exit code and everything it wrote."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tui_label", "doctor", "--timeout",
                             str(timeout)], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    out = bytearray()

    def read() -> None:
        answered = False
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
            if answer is not None and not answered and QUERIES.encode() in out:
                answered = True
                os.write(master, answer.encode())

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


def report_part(output: str) -> str:
    assert output.count(QUERIES) == 1  # the queries, once
    return output.split(QUERIES, 1)[1]


def test_silent_terminal_returns_and_falls_back_to_half_blocks():
    code, output = run_doctor_in_pty(None)
    assert code == 0
    report = report_part(output)
    assert "queries: no reply within 0.5 s" in report
    assert "renderer auto uses: halfcell" in report
    assert "\x1b" not in report and "^[" not in report


def test_answering_terminal_is_reported_without_echoing_the_answers():
    code, output = run_doctor_in_pty(KITTY_026)
    assert code == 0
    report = report_part(output)
    assert "queries: all answered" in report
    assert "XTVERSION: kitty(0.26.5)" in report
    assert "kitty graphics: OK" in report
    assert "renderer auto uses: kitty" in report
    assert "warning: kitty(0.26.5) draws no Unicode placeholders" in report
    assert "\x1b" not in report and "^[" not in report  # the answers were not echoed

"""Unicode placeholders for tmux (tui_label.terminal.tmux), and the terminal package's import
rule: no textual, no textual-image, no click."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tui_label.terminal import kitty, tmux
from tui_label.terminal.kitty import DIACRITICS, parse_commands


def test_the_diacritics_are_kittys_table_as_textual_image_has_it():
    from textual_image.renderable.tgp import _NUMBER_TO_DIACRITIC  # the copy's source

    assert len(DIACRITICS) == 297
    assert list(DIACRITICS) == list(_NUMBER_TO_DIACRITIC)
    assert DIACRITICS[:3] == (0x305, 0x30D, 0x30E)  # the spec's first rows: 0, 1, 2


def test_placeholder_rows_mark_row_column_and_the_ids_top_byte():
    rows = tmux.placeholder_rows(0x05000010, cols=3, rows=2)
    assert len(rows) == 2
    cells = [row.split(tmux.PLACEHOLDER)[1:] for row in rows]
    assert all(len(row) == 3 for row in cells)
    mark = [chr(c) for c in DIACRITICS]
    assert cells[1][2] == mark[1] + mark[2] + mark[5]  # row 1, column 2, id byte 0x05


def test_placeholder_rows_refuse_an_area_the_diacritics_cannot_tell():
    with pytest.raises(ValueError, match="297"):
        tmux.placeholder_rows(16, cols=298, rows=1)


def test_a_virtual_placement_is_a_quiet_placement_with_U():
    [(_, placement)] = parse_commands(tmux.virtual_place(16, 40, 12))
    assert placement.action == "p" and placement.image_id == 16
    assert placement.keys["U"] == "1" and placement.keys["c"] == "40"
    assert placement.keys["r"] == "12" and placement.keys["q"] == "2"


def test_passthrough_keeps_only_graphics_commands():
    wrapped = tmux.passthrough(b"text" + kitty.delete(3))
    assert wrapped.startswith(b"\x1bPtmux;\x1b\x1b_G") and b"text" not in wrapped


def test_terminal_modules_import_neither_textual_nor_textual_image_nor_click():
    code = ("import sys; import tui_label.terminal.kitty, tui_label.terminal.tmux, "
            "tui_label.terminal.probe, tui_label.terminal.sixel; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('textual', 'textual_image', 'click') or m.startswith('tui_label.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"

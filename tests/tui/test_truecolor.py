"""The app's colour depth (issue 17.1): ``truecolor=True`` draws 24-bit colour where TERM alone
gives the 256-colour palette (tmux's screen-256color, no COLORTERM over ssh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from tests.helpers.app import make_app
from tui_label.store import Store
from tui_label.tui.widgets.image_view import load_terminal


@pytest.fixture
def over_ssh_in_tmux(monkeypatch):
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("TERM", "screen-256color")


@pytest.mark.parametrize("truecolor, system, code", [
    (False, "256", "38;5;"), (True, "truecolor", "38;2;18;52;86")])
def test_the_app_draws_in_the_colour_depth_it_is_given(
        over_ssh_in_tmux, store: Store, dataset: Path, truecolor: bool, system: str, code: str):
    app = make_app(store, dataset, truecolor=truecolor)
    assert app.console.color_system == system
    cell = Strip([Segment("\u2580", Style(color="#123456", bgcolor="#654321"))])
    drawn = cell.render(app.console)  # as Textual writes a line of a half-block image
    assert code in drawn and ("38;2;" in drawn) == truecolor


def test_load_terminal_tells_the_colour_depth_without_asking_for_a_forced_renderer(
        over_ssh_in_tmux, monkeypatch):
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setenv("TERM", "xterm-direct")
    renderer, depth = load_terminal("halfcell")
    assert renderer.name == "halfcell" and depth.truecolor is True
    monkeypatch.setenv("TERM", "xterm-256color")
    assert load_terminal("halfcell")[1].truecolor is None

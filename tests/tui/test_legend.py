"""The legend (issue 17.10): lines break between classes, never between a key and its name."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.geometry import Region

from tests.helpers.app import make_app, wait_shown
from tests.helpers.data import make_images
from tui_label.config.settings import resolve_classes
from tui_label.media.scan import scan
from tui_label.store import Store
from tui_label.tui.widgets.legend import Legend, lay_out

# 15 classes, names of one to four words: the digits are their own keys, the rest b, c, ...
NAMES = [*(str(d) for d in range(10)), "golden retriever", "cat", "tabby cat",
         "bird of paradise", "x"]


def legend_lines(legend: Legend) -> list[str]:
    """The legend's lines as the terminal gets them (padding included)."""
    strips = legend.render_lines(Region(0, 0, legend.size.width, legend.size.height))
    return [strip.text for strip in strips]


async def test_the_legend_never_splits_a_key_from_its_name(tmp_path: Path):
    root = tmp_path / "data"
    make_images(root, 3)
    store = Store(tmp_path / "labels.db")
    specs = resolve_classes([(name, None) for name in NAMES])
    store.set_classes(specs)
    store.sync_images(scan(root))
    app = make_app(store, root)
    try:
        async with app.run_test(size=(80, 30)) as pilot:
            screen = app.label_screen
            await wait_shown(pilot, screen, 0)
            for width in (80, 61, 47):
                await pilot.resize_terminal(width, 30)
                await pilot.pause()
                lines = legend_lines(screen.query_one(Legend))
                assert all(len(line) <= width for line in lines)
                for spec in specs:
                    pair = f"[{spec.key}] {spec.name} (0)"
                    # Whole, on one line, once: never "[b]" at the end and "golden" below it.
                    assert sum(pair in line for line in lines) == 1, (width, pair, lines)
                assert len(lines) > 1  # 15 classes do not fit one line of 80
    finally:
        store.close()


def test_a_pair_wider_than_the_line_is_cut_short_not_broken():
    pairs = [Text("[1] cat (3)"), Text("[2] " + "very long name " * 5 + "(0)"), Text("[3] x (1)")]
    lines = lay_out(pairs, 20).plain.split("\n")
    assert lines == ["[1] cat (3)", "[2] very long name …", "[3] x (1)"]
    assert lay_out(pairs[:1] + pairs[2:], 40).plain == "[1] cat (3)  [3] x (1)"

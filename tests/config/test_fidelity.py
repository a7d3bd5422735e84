"""Fewer bytes per image (issue 11, item 4): the sixel encoder, 256-colour half blocks, the
pixel cap, ``--link`` and its config setting. Assertions on the bytes themselves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from tests.helpers.pty_app import make_photos
from tui_label.cli.main import main
from tui_label.config.fidelity import LINKS, MIN_PIXELS, Fidelity, fidelity_for
from tui_label.config.labeler import load_config_settings
from tui_label.errors import UsageError
from tui_label.media.decode import Geometry
from tui_label.terminal import sixel
from tui_label.tui.renderers import sixel_encode

RASTER = re.compile(r'\x1bP[0-9;]*q"1;1;(\d+);(\d+)')
REGISTER = re.compile(r"#(\d+);2;(\d+);(\d+);(\d+)")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Image.Image:
    folder = tmp_path_factory.mktemp("photo")
    make_photos(folder, [(900, 600)], seed=3)
    return Image.open(folder / "photo00.png").convert("RGB")


def parse_sixel(data: str) -> tuple[tuple[int, int], int]:
    """(raster width and height, number of colour registers defined)."""
    m = RASTER.match(data)
    assert m and data.endswith("\x1b\\")
    return (int(m.group(1)), int(m.group(2))), len({r[0] for r in REGISTER.findall(data)})


def decode_sixel(data: str) -> Image.Image:
    """Paint a sixel sequence (as a terminal would) into an RGB image."""
    (width, height), _ = parse_sixel(data)
    body = data[RASTER.match(data).end():-2]
    out = Image.new("RGB", (width, height))
    px = out.load()
    colors: dict[int, tuple[int, int, int]] = {}
    x = band = 0
    color = (0, 0, 0)
    for m in re.finditer(r"#(\d+)(?:;2;(\d+);(\d+);(\d+))?|!(\d+)(.)|([?-~])|(\$)|(-)", body):
        if m.group(1) is not None:
            index = int(m.group(1))
            if m.group(2) is not None:
                colors[index] = tuple(round(int(m.group(g)) * 255 / 100) for g in (2, 3, 4))
            color = colors[index]
            continue
        if m.group(8):
            x = 0
            continue
        if m.group(9):
            x, band = 0, band + 6
            continue
        count, char = (int(m.group(5)), m.group(6)) if m.group(5) else (1, m.group(7))
        bits = ord(char) - 63
        for _ in range(count):
            for row in range(6):
                if bits >> row & 1 and band + row < height and x < width:
                    px[x, band + row] = color
            x += 1
    return out


def mean_error(a: Image.Image, b: Image.Image) -> float:
    import numpy as np

    return float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean())


def test_default_sixel_is_under_half_of_textual_images_bytes_and_looks_the_same(photo):
    from textual_image._sixel import image_to_sixels

    before = image_to_sixels(photo, background=(0, 0, 0, 1.0))
    now = sixel_encode(photo)
    assert parse_sixel(now)[0] == photo.size == parse_sixel(before)[0]
    assert parse_sixel(now)[1] <= 256
    assert len(now) <= 0.5 * len(before)
    # drawn, it is as close to the photo as textual-image's (a few levels in 255)
    assert mean_error(decode_sixel(now), photo) < mean_error(decode_sixel(before), photo) + 3


def test_slow_link_sixel_has_64_colours_and_fewer_bytes(photo):
    slow = LINKS["slow"]
    default = sixel_encode(photo)
    fewer = sixel_encode(photo, colors=slow.sixel_colors, merge=slow.sixel_merge)
    size, registers = parse_sixel(fewer)
    assert size == photo.size and registers <= 64
    assert len(fewer) < 0.8 * len(default)


def test_column_merge_keeps_each_columns_edges(photo):
    # a black/white edge inside a 6-pixel column survives any merge below their distance
    image = Image.new("RGB", (12, 12), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 12, 3))
    merged = sixel.merge_band_columns(sixel.quantize(image, 16, denoise=False), 32)
    assert {c for _, c in merged.convert("RGB").getcolors()} == {(0, 0, 0), (255, 255, 255)}


def render(strips) -> str:
    console = Console(color_system="truecolor", file=None)
    return "".join(strip.render(console) for strip in strips)


def test_halfcell_256_colours_writes_palette_codes_and_fewer_bytes(photo):
    from tui_label.tui.widgets.picture import halfcell_strips

    small = photo.resize((150, 88))
    truecolor = render(halfcell_strips(small))
    eight_bit = render(halfcell_strips(small, "256"))
    assert "38;2;" in truecolor and "38;2;" not in eight_bit and "48;2;" not in eight_bit
    numbers = {int(n) for n in re.findall(r"[34]8;5;(\d+)", eight_bit)}
    assert numbers and all(16 <= n <= 255 for n in numbers)
    assert len(eight_bit) < 0.8 * len(truecolor)
    cells = 150 * 44  # every cell drawn: a half block, or a space where both pixels are alike
    assert eight_bit.count("▀") + eight_bit.count(" ") == cells
    assert truecolor.count("▀") + truecolor.count(" ") == cells


def test_halfcell_cells_with_two_alike_pixels_are_spaces_on_their_colour():
    from tui_label.tui.widgets.picture import halfcell_strips

    image = Image.new("RGB", (3, 2), (255, 0, 0))
    image.putpixel((2, 0), (0, 0, 255))  # the third cell: blue over red
    for colors in ("truecolor", "256"):
        line = render(halfcell_strips(image, colors))
        assert line.count(" ") == 2 and line.count("▀") == 1
        solid = line.split("\x1b[0m")[0]  # the two red cells: one segment, background only
        assert "38;" not in solid and "48;" in solid and solid.endswith("m  ")


def test_truecolor_half_blocks_use_16_levels_a_channel(photo):
    from tui_label.tui.widgets.picture import LEVELS, halfcell_strips

    ours = render(halfcell_strips(photo.resize((150, 88))))
    values = {int(v) for m in re.findall(r"[34]8;2;(\d+);(\d+);(\d+)", ours) for v in m}
    assert values <= {round(k * 255 / (LEVELS - 1)) for k in range(LEVELS)}
    assert len(values) > LEVELS // 2


def test_256_colour_half_blocks_survive_textuals_truecolor_filter():
    from rich.terminal_theme import MONOKAI
    from textual.color import Color
    from textual.filter import ANSIToTruecolor

    from tui_label.tui.widgets.picture import halfcell_strips

    strip = halfcell_strips(Image.new("RGB", (4, 2), (200, 30, 30)), "256")[0]
    filtered = ANSIToTruecolor(MONOKAI).apply(list(strip), Color(0, 0, 0))
    assert render([type(strip)(filtered)]).count("48;5;") == 1


def test_pixel_cap_shrinks_sixel_cells_and_keeps_kitty_cells():
    sixel_area = Geometry(160, 44, cell=(10, 20), density=(10, 20), max_pixels=480_000)
    cells, pixels = sixel_area.layout(3000, 2000)
    assert pixels[0] * pixels[1] <= 480_000 and pixels == (cells[0] * 10, cells[1] * 20)
    assert cells[0] < 132  # smaller on screen: sixel pixels are screen pixels
    kitty_area = Geometry(160, 44, cell=(10, 20), density=(10, 20), max_pixels=480_000,
                          scaled=True)
    cells, pixels = kitty_area.layout(3000, 2000)
    assert cells == Geometry(160, 44, (10, 20), (10, 20)).layout(3000, 2000)[0]
    assert pixels[0] * pixels[1] <= 480_000
    assert abs(pixels[0] / pixels[1] - 1.5) < 0.01
    # under the cap, nothing changes
    assert Geometry(80, 24, max_pixels=480_000).layout(300, 200) == \
        Geometry(80, 24).layout(300, 200)


def test_fidelity_for_presets_and_cap():
    assert fidelity_for() == Fidelity()
    assert fidelity_for("slow") == LINKS["slow"]
    assert fidelity_for("slow", 200_000).max_pixels == 200_000
    assert fidelity_for("slow", 200_000).sixel_colors == LINKS["slow"].sixel_colors
    with pytest.raises(UsageError, match="unknown link"):
        fidelity_for("fast")
    with pytest.raises(UsageError, match="at least"):
        fidelity_for("default", MIN_PIXELS - 1)


def test_config_link_and_max_pixels(tmp_path: Path):
    config = tmp_path / "tui-label.toml"
    config.write_text('classes = ["a"]\nlink = "slow"\nmax_pixels = 250000\n')
    settings = load_config_settings(config)
    assert settings.link == "slow" and settings.max_pixels == 250_000
    for bad, message in [('link = "fast"', "'link' must be one of"),
                         ("max_pixels = 10", "'max_pixels' must be"),
                         ("max_pixels = true", "'max_pixels' must be")]:
        config.write_text(f'classes = ["a"]\n{bad}\n')
        with pytest.raises(UsageError, match=message):
            load_config_settings(config)


def test_cli_refuses_unknown_link_and_tiny_cap(tmp_path: Path, capsys):
    data = tmp_path / "data"
    make_photos(data, [(40, 30)])
    for args in (["--link", "fast"], ["--max-pixels", "10"]):
        with pytest.raises(SystemExit) as exc:
            main(["label", str(data), "--classes", "a,b", "--db", str(tmp_path / "l.db"), *args])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("tui-label: error:") and "Traceback" not in err
    assert not (tmp_path / "l.db").exists()  # validated first, nothing written

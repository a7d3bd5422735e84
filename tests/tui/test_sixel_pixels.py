"""What a terminal draws from the labeler's sixel images, pixel by pixel (issue 17, item 4).

The sixel sequence the labeler sends (``tui_label.tui.widgets.picture.sixel_data``: reduced by
``tui_label.terminal.sixel``, then encoded) is decoded back to pixels by the test helper
``tests.helpers.sixel_decode`` and compared with the photo: the image covers exactly its own
pixels (no band of unwritten or background rows at the top, none below), every pixel is
close to the photo (no wrong-colour specks), and the rows where one six-pixel band meets the
next differ from each other no more than the photo's rows do there (no seams between bands).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.helpers.photos import photo, portrait
from tests.helpers.sixel_decode import decode
from tui_label.config.fidelity import LINKS, Fidelity
from tui_label.tui.widgets.picture import sixel_data

PHOTOS = {
    "portrait 640x427": lambda: portrait(640, 427),
    "portrait 301x451 (a last band of 1 row)": lambda: portrait(301, 451, seed=1),
    "noisy gradient 480x320": lambda: photo(480, 320, noise=6),
}
FIDELITIES = {"default": Fidelity(), "slow": LINKS["slow"]}


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a.astype(np.int32) - b.astype(np.int32)) ** 2).sum(axis=-1))


def shown(image: Image.Image, fidelity: Fidelity) -> np.ndarray:
    """What the encoding is meant to show: the photo, after the median filter when the
    fidelity asks for one (noise that costs bytes and shows nothing)."""
    if fidelity.sixel_denoise:
        image = image.filter(ImageFilter.MedianFilter(3))
    return np.asarray(image.convert("RGB"))


@pytest.fixture(params=list(PHOTOS), scope="module")
def photo_and_pixels(request):
    image = PHOTOS[request.param]()
    return image, {name: decode(sixel_data(image, fidelity))
                   for name, fidelity in FIDELITIES.items()}


@pytest.mark.parametrize("fidelity", list(FIDELITIES))
def test_the_sixel_covers_exactly_the_image(photo_and_pixels, fidelity):
    image, decoded = photo_and_pixels
    pixels = decoded[fidelity]
    width, height = image.size
    assert pixels.raster == (width, height)
    assert pixels.rgb.shape[:2] == (height, width)  # nothing drawn below or beside it
    assert pixels.written.all()  # no band (or pixel) left to the background
    assert pixels.bands == -(-height // 6) - 1  # no "-" after the last band: no band below


@pytest.mark.parametrize("fidelity", list(FIDELITIES))
def test_every_colour_register_is_defined_before_the_first_band(photo_and_pixels, fidelity):
    # xterm draws the first band of an image whose registers come later in wrong colours:
    # the band above every image (seen with xterm-shot)
    assert decoded_late(photo_and_pixels, fidelity) == []


def decoded_late(photo_and_pixels, fidelity: str) -> list[int]:
    return photo_and_pixels[1][fidelity].late


@pytest.mark.parametrize("fidelity", list(FIDELITIES))
def test_every_pixel_is_as_close_as_its_registers_allow(photo_and_pixels, fidelity):
    """The reference: each pixel of the photo drawn in the nearest of the image's own colour
    registers. The encoding may move a pixel ``sixel_merge`` further (a colour merged in its
    column) and no more: no speck of a far colour."""
    image, decoded = photo_and_pixels
    pixels = decoded[fidelity]
    source = shown(image, FIDELITIES[fidelity])
    registers = np.array(sorted(set(map(tuple, pixels.rgb.reshape(-1, 3)))), dtype=np.int32)
    flat = source.reshape(-1, 1, 3).astype(np.int32)
    best = np.concatenate([np.sqrt(((flat[i:i + 4096] - registers[None]) ** 2).sum(-1)).min(1)
                           for i in range(0, len(flat), 4096)]).reshape(source.shape[:2])
    error = distance(pixels.rgb, source)
    extra = error - best
    # + the percent rounding of the registers and the nearest-colour cache of Pillow
    limit = FIDELITIES[fidelity].sixel_merge + 8
    worst = np.unravel_index(extra.argmax(), extra.shape)
    assert extra.max() <= limit, (f"a speck {error[worst]:.0f} away at (row, col) {worst}, "
                                  f"where a register {best[worst]:.0f} away exists")
    # and the first band is as close to the photo as the rest
    rows = error.mean(axis=1)
    assert rows[:6].mean() <= rows.mean() * 1.5 + 2

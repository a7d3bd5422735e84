"""The sixel reduction before encoding (tui_label.terminal.sixel.reduced); the byte counts
against textual-image's own encoding are tests/config/test_fidelity.py's."""

from __future__ import annotations

from tests.helpers.photos import photo
from tui_label.terminal import sixel


def test_reduced_is_a_palette_image_of_the_same_size_within_the_colours():
    image = photo(120, 90)
    out = sixel.reduced(image, colors=64, merge=24)
    assert out.mode == "P" and out.size == image.size
    assert len(out.getcolors(256)) <= 64


def test_reduced_merges_near_colours_only_when_asked():
    image = photo(120, 90)
    plain = sixel.reduced(image, colors=256, merge=0, denoise=False)
    assert plain.tobytes() == sixel.quantize(image, 256, denoise=False).tobytes()
    merged = sixel.reduced(image, colors=256, merge=32, denoise=False)
    assert len(merged.getcolors(256)) <= len(plain.getcolors(256))

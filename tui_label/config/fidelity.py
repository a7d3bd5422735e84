"""How much of each image goes on the wire: ``--link`` presets and the pixel cap.

Over SSH the link, not the server, decides how fast the next image appears. A preset trades
image fidelity for bytes: fewer sixel colours, 256-colour half blocks, fewer pixels per image.
No textual: the CLI and the config read this before the labeler starts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tui_label.errors import UsageError


@dataclass(frozen=True)
class Fidelity:
    """What each image may cost on the wire.

    Attributes:
        sixel_colors: palette size of a sixel image (2 to 256).
        sixel_merge: within each 6-pixel sixel column, colours this close (distance in RGB,
            0 to 441) are drawn as one; 0 keeps every colour. Sixel pays per colour per
            column, so this is where most of its bytes go.
        sixel_denoise: a 3x3 median filter before the palette is chosen (sensor noise costs
            bytes and shows nothing).
        halfcell_colors: "truecolor" (24-bit) or "256" (the xterm palette: shorter codes,
            longer runs, visible banding).
        max_pixels: at most this many pixels per image, or None. Terminals that scale images
            to their cells (kitty graphics) show it at the same size, in less detail; sixel
            draws one image pixel per screen pixel, so its images get smaller on screen.
    """

    sixel_colors: int = 256
    sixel_merge: int = 24
    sixel_denoise: bool = True
    halfcell_colors: str = "truecolor"
    max_pixels: int | None = None


LINKS = {
    "default": Fidelity(),
    # a few Mbit/s or less: about half the default's bytes per image (BENCHMARKS.md, issue 11)
    "slow": Fidelity(sixel_colors=64, sixel_merge=32, halfcell_colors="256",
                     max_pixels=480_000),
}
MIN_PIXELS = 1_000


def fidelity_for(link: str = "default", max_pixels: int | None = None) -> Fidelity:
    """The preset ``link`` with the pixel cap ``max_pixels`` (when given) in place of its own.

    Raises:
        UsageError: an unknown preset, or a cap below ``MIN_PIXELS``.
    """
    if link not in LINKS:
        raise UsageError(f"unknown link {link!r} (known: {', '.join(LINKS)})")
    if max_pixels is not None and max_pixels < MIN_PIXELS:
        raise UsageError(f"the pixel cap must be at least {MIN_PIXELS:,} pixels")
    fidelity = LINKS[link]
    return fidelity if max_pixels is None else replace(fidelity, max_pixels=max_pixels)

"""The wire benchmark's kitty bookkeeping (benchmarks/wire.py, issue 17): which layer of a
key's image is the full one, and whether it reached the screen before the next key."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers.photos import photo
from tui_label.terminal import kitty

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import wire  # noqa: E402

CELL_W = wire.CELL[0]


def layer_bytes(image_id: int, width: int, height: int, strips: int | None = None) -> bytes:
    """The canvas and the first ``strips`` strips (all by default) of a layer."""
    layer = kitty.make_layer(photo(width, height, seed=image_id), image_id=image_id)
    return b"".join(layer.pieces[:None if strips is None else 1 + strips])


def one_key(data: bytes, key_at: int, pace: float = 1.5) -> wire.Shown:
    """The key pressed at 0 s, reaching the app when it had written ``key_at`` bytes; a byte
    at offset N reaches the terminal N microseconds later (all well within the pace)."""
    [shown] = wire.kitty_shown(data, [(0.0, key_at, len(data))], pace, lambda n: n * 1e-6)
    return shown


def test_a_key_that_placed_only_the_low_layer_did_not_reach_full_resolution():
    # image A: the low layer (odd id) pre-sent; image B's low layer next on the wire (its id
    # the next number after A's low: the old bookkeeping took the next id for A's full one
    # only when it was 1.5 times taller, else counted A's low layer as the full one)
    data = layer_bytes(0x101, 80, 48) + layer_bytes(0x103, 80, 60)
    key_at = len(data)
    data += kitty.place(0x101, 16, 5, z=0)  # the key: A's low layer, its full one not sent
    data += layer_bytes(0x102, 160, 96, strips=1)  # A's full layer begins, never ends
    shown = one_key(data, key_at)
    assert shown.area == 16 * CELL_W
    assert shown.full == 160  # A's full layer, told by its id
    assert shown.reached == 80  # the low layer only
    assert shown.full_after == float("inf")


def test_a_full_layer_placed_after_the_key_counts_once_complete():
    data = layer_bytes(0x201, 80, 48)
    key_at = len(data)
    data += kitty.place(0x201, 16, 5, z=0)
    data += layer_bytes(0x202, 160, 96)  # the full layer uploads, then is placed over it
    data += kitty.place(0x202, 16, 5, z=1)
    shown = one_key(data, key_at)
    assert (shown.full, shown.reached) == (160, 160)
    assert shown.full_after == (len(data) - 1) * 1e-6


def test_a_full_layer_complete_after_the_next_key_is_not_counted():
    data = layer_bytes(0x301, 80, 48)
    key_at = len(data)
    data += kitty.place(0x301, 16, 5, z=0)
    data += layer_bytes(0x302, 160, 96)
    data += kitty.place(0x302, 16, 5, z=1)
    late = one_key(data, key_at, pace=len(data) * 1e-6 / 2)  # the next key came first
    assert (late.full, late.reached, late.full_after) == (160, 80, float("inf"))

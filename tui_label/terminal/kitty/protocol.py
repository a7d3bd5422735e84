"""The kitty graphics protocol on the wire: commands as bytes, and back (what a terminal reads).

https://sw.kovidgoyal.net/kitty/graphics-protocol/ : each command is an APC escape code,
``ESC _G keys;base64 payload ESC \\``. No textual, no textual-image.
"""

from __future__ import annotations

import base64
import io
import re
import zlib
from dataclasses import dataclass

from PIL import Image

APC, ST = b"\x1b_G", b"\x1b\\"
CHUNK = 4096  # base64 bytes per escape code, the protocol's limit
DA1 = b"\x1b[c"  # primary device attributes: every terminal answers, in order


# ---------------------------------------------------------------------------------- commands

def command(keys: dict[str, object], payload: bytes = b"") -> bytes:
    """One graphics command; a payload over ``CHUNK`` base64 bytes goes in chunks (``m=1``
    on every chunk but the last, whose ``m=0`` ends it; later chunks carry only ``m`` and
    ``q``, and ``a=f,r=N`` for frame edits)."""
    control = ",".join(f"{k}={v}" for k, v in keys.items()).encode()
    if not payload:
        return APC + control + ST
    data = base64.standard_b64encode(payload)
    if len(data) <= CHUNK:
        return APC + control + b";" + data + ST
    quiet = f",q={keys['q']}".encode() if "q" in keys else b""
    # kitty 0.26 reads a chunk without a= as a transmission's: frame edits repeat a=f and
    # the frame number in every chunk (without them the image ends up replaced or untouched)
    action = f"a=f,r={keys.get('r', 1)},".encode() if keys.get("a") == "f" else b""
    parts = []
    for offset in range(0, len(data), CHUNK):
        more = b"m=1" if offset + CHUNK < len(data) else b"m=0"
        head = control + b"," + more if offset == 0 else action + more + quiet
        parts.append(APC + head + b";" + data[offset:offset + CHUNK] + ST)
    return b"".join(parts)


@dataclass(frozen=True)
class Pixels:
    """Compressed pixel data and the keys that describe it (format, compression, size)."""

    keys: dict[str, object]
    data: bytes


def encode_pixels(image: Image.Image, png_level: int = 6, only: int | None = None) -> Pixels:
    """The smaller of zlib-deflated raw RGB (``f=24,o=z``) and PNG (``f=100``); ``only``
    (24 or 100) encodes that one alone."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    candidates = []
    if only in (None, 24):
        raw = zlib.compress(rgb.tobytes(), 1)
        candidates.append(Pixels({"f": 24, "o": "z", "s": rgb.width, "v": rgb.height}, raw))
    if only in (None, 100):
        out = io.BytesIO()
        rgb.save(out, "PNG", compress_level=png_level)
        candidates.append(Pixels({"f": 100}, out.getvalue()))
    return min(candidates, key=lambda p: len(p.data))


def transmit(image_id: int, image: Image.Image, quiet: int = 1) -> bytes:
    """Upload ``image`` under ``image_id`` without placing it (``a=t``)."""
    pixels = encode_pixels(image)
    return command({"a": "t", "i": image_id, "q": quiet, **pixels.keys}, pixels.data)


def canvas(image_id: int, width: int, height: int, quiet: int = 1) -> bytes:
    """A transparent ``width x height`` image to edit into: a 1-bit PNG whose one colour is
    transparent (a few hundred bytes at any size)."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", transparency=0)
    return command({"a": "t", "i": image_id, "q": quiet, "f": 100}, out.getvalue())


def edit(image_id: int, pixels: Pixels, y: int, quiet: int = 1) -> bytes:
    """Write ``pixels`` into the image's first frame at row ``y`` (``a=f,r=1``)."""
    return command({"a": "f", "r": 1, "i": image_id, "x": 0, "y": y, "q": quiet,
                    **pixels.keys}, pixels.data)


def place(image_id: int, cols: int, rows: int, placement_id: int | None = 1,
          z: int | None = None) -> bytes:
    """Show an uploaded image at the cursor, scaled to ``cols x rows`` cells; the cursor
    stays where it is (``C=1``). Placing again with the same ids moves the placement."""
    keys: dict[str, object] = {"a": "p", "i": image_id}
    if placement_id is not None:
        keys["p"] = placement_id
    keys.update(c=cols, r=rows, C=1)
    if z is not None:
        keys["z"] = z
    keys["q"] = 2
    return command(keys)


def delete(image_id: int, free: bool = False) -> bytes:
    """Remove the image's placements (``d=i``); with ``free`` its data too (``d=I``)."""
    return command({"a": "d", "d": "I" if free else "i", "i": image_id, "q": 2})


# ------------------------------------------------------------------------ parsing commands

@dataclass
class Command:
    """A graphics command as the terminal sees it, chunks joined, payload decoded."""

    keys: dict[str, str]
    payload: bytes = b""

    @property
    def action(self) -> str:
        return self.keys.get("a", "t")

    @property
    def image_id(self) -> int:
        return int(self.keys.get("i", 0))

    def __len__(self) -> int:
        return len(self.payload)


_APC_RE = re.compile(rb"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")


def _keys(control: bytes) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in control.decode().split(",") if "=" in kv)


def parse_commands(data: bytes) -> list[tuple[int, Command]]:
    """Every graphics command in ``data`` with the offset where it ends; a chunked one is
    reported once, at its last chunk, with its first chunk's keys."""
    found: list[tuple[int, Command]] = []
    pending: Command | None = None
    encoded = b""
    for m in _APC_RE.finditer(data):
        keys = _keys(m.group(1))
        chunk = m.group(2) or b""
        if pending is None:
            pending, encoded = Command(keys), chunk
        else:
            encoded += chunk
        if keys.get("m") != "1":
            pending.keys.pop("m", None)
            pending.payload = base64.standard_b64decode(encoded) if encoded else b""
            found.append((m.end(), pending))
            pending = None
    return found


# ----------------------------------------------------------------- Unicode placeholders

# The row/column diacritics of kitty's Unicode placeholders: the table rowcolumn-diacritics.txt
# of the protocol's spec (https://sw.kovidgoyal.net/kitty/graphics-protocol/, section "Unicode
# placeholders"); the Nth mark says row, column or id byte N. The same 297 code points as
# textual-image's ``tgp._NUMBER_TO_DIACRITIC``, copied here: no headless module imports
# textual-image (importing its renderables queries the terminal).
DIACRITICS: tuple[int, ...] = (
    0x00305, 0x0030D, 0x0030E, 0x00310, 0x00312, 0x0033D, 0x0033E, 0x0033F, 0x00346, 0x0034A,
    0x0034B, 0x0034C, 0x00350, 0x00351, 0x00352, 0x00357, 0x0035B, 0x00363, 0x00364, 0x00365,
    0x00366, 0x00367, 0x00368, 0x00369, 0x0036A, 0x0036B, 0x0036C, 0x0036D, 0x0036E, 0x0036F,
    0x00483, 0x00484, 0x00485, 0x00486, 0x00487, 0x00592, 0x00593, 0x00594, 0x00595, 0x00597,
    0x00598, 0x00599, 0x0059C, 0x0059D, 0x0059E, 0x0059F, 0x005A0, 0x005A1, 0x005A8, 0x005A9,
    0x005AB, 0x005AC, 0x005AF, 0x005C4, 0x00610, 0x00611, 0x00612, 0x00613, 0x00614, 0x00615,
    0x00616, 0x00617, 0x00657, 0x00658, 0x00659, 0x0065A, 0x0065B, 0x0065D, 0x0065E, 0x006D6,
    0x006D7, 0x006D8, 0x006D9, 0x006DA, 0x006DB, 0x006DC, 0x006DF, 0x006E0, 0x006E1, 0x006E2,
    0x006E4, 0x006E7, 0x006E8, 0x006EB, 0x006EC, 0x00730, 0x00732, 0x00733, 0x00735, 0x00736,
    0x0073A, 0x0073D, 0x0073F, 0x00740, 0x00741, 0x00743, 0x00745, 0x00747, 0x00749, 0x0074A,
    0x007EB, 0x007EC, 0x007ED, 0x007EE, 0x007EF, 0x007F0, 0x007F1, 0x007F3, 0x00816, 0x00817,
    0x00818, 0x00819, 0x0081B, 0x0081C, 0x0081D, 0x0081E, 0x0081F, 0x00820, 0x00821, 0x00822,
    0x00823, 0x00825, 0x00826, 0x00827, 0x00829, 0x0082A, 0x0082B, 0x0082C, 0x0082D, 0x00951,
    0x00953, 0x00954, 0x00F82, 0x00F83, 0x00F86, 0x00F87, 0x0135D, 0x0135E, 0x0135F, 0x017DD,
    0x0193A, 0x01A17, 0x01A75, 0x01A76, 0x01A77, 0x01A78, 0x01A79, 0x01A7A, 0x01A7B, 0x01A7C,
    0x01B6B, 0x01B6D, 0x01B6E, 0x01B6F, 0x01B70, 0x01B71, 0x01B72, 0x01B73, 0x01CD0, 0x01CD1,
    0x01CD2, 0x01CDA, 0x01CDB, 0x01CE0, 0x01DC0, 0x01DC1, 0x01DC3, 0x01DC4, 0x01DC5, 0x01DC6,
    0x01DC7, 0x01DC8, 0x01DC9, 0x01DCB, 0x01DCC, 0x01DD1, 0x01DD2, 0x01DD3, 0x01DD4, 0x01DD5,
    0x01DD6, 0x01DD7, 0x01DD8, 0x01DD9, 0x01DDA, 0x01DDB, 0x01DDC, 0x01DDD, 0x01DDE, 0x01DDF,
    0x01DE0, 0x01DE1, 0x01DE2, 0x01DE3, 0x01DE4, 0x01DE5, 0x01DE6, 0x01DFE, 0x020D0, 0x020D1,
    0x020D4, 0x020D5, 0x020D6, 0x020D7, 0x020DB, 0x020DC, 0x020E1, 0x020E7, 0x020E9, 0x020F0,
    0x02CEF, 0x02CF0, 0x02CF1, 0x02DE0, 0x02DE1, 0x02DE2, 0x02DE3, 0x02DE4, 0x02DE5, 0x02DE6,
    0x02DE7, 0x02DE8, 0x02DE9, 0x02DEA, 0x02DEB, 0x02DEC, 0x02DED, 0x02DEE, 0x02DEF, 0x02DF0,
    0x02DF1, 0x02DF2, 0x02DF3, 0x02DF4, 0x02DF5, 0x02DF6, 0x02DF7, 0x02DF8, 0x02DF9, 0x02DFA,
    0x02DFB, 0x02DFC, 0x02DFD, 0x02DFE, 0x02DFF, 0x0A66F, 0x0A67C, 0x0A67D, 0x0A6F0, 0x0A6F1,
    0x0A8E0, 0x0A8E1, 0x0A8E2, 0x0A8E3, 0x0A8E4, 0x0A8E5, 0x0A8E6, 0x0A8E7, 0x0A8E8, 0x0A8E9,
    0x0A8EA, 0x0A8EB, 0x0A8EC, 0x0A8ED, 0x0A8EE, 0x0A8EF, 0x0A8F0, 0x0A8F1, 0x0AAB0, 0x0AAB2,
    0x0AAB3, 0x0AAB7, 0x0AAB8, 0x0AABE, 0x0AABF, 0x0AAC1, 0x0FE20, 0x0FE21, 0x0FE22, 0x0FE23,
    0x0FE24, 0x0FE25, 0x0FE26, 0x10A0F, 0x10A38, 0x1D185, 0x1D186, 0x1D187, 0x1D188, 0x1D189,
    0x1D1AA, 0x1D1AB, 0x1D1AC, 0x1D1AD, 0x1D242, 0x1D243, 0x1D244,
)

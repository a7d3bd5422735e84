"""The kitty graphics protocol, headless: commands as bytes (``protocol``), the terminal's
replies (``replies``), images as layers (``layers``) and the pre-sender that uploads them ahead
of the key that shows them (``uploader``, issue 11), each image as sharp as the measured link
carries per key (``planner``, issue 17). Inside tmux, Unicode placeholders:
``tui_label.terminal.tmux``.

Images are placed directly at the cursor (``a=p``), never through Unicode placeholders, so
kitty before 0.28 draws them too. No textual here: the widget (tui/widgets/kitty_picture.py)
decides where and when; this package only says what goes on the wire.
"""

from tui_label.core.lazy import exports, lazy
from tui_label.terminal.kitty.link import LinkEstimate
from tui_label.terminal.kitty.protocol import (
    APC,
    CHUNK,
    DA1,
    DIACRITICS,
    ST,
    Command,
    Pixels,
    canvas,
    command,
    delete,
    edit,
    encode_pixels,
    parse_commands,
    place,
    transmit,
)
from tui_label.terminal.kitty.replies import Reply, ReplyFilter, parse_reply

# The planner and the uploader need numpy: loaded on first use, so that what reads only the
# protocol (tmux's placeholders, ``tui-label doctor``, every CLI command) starts without it.
__getattr__ = lazy(__name__, exports(
    planner=("KeyPace", "Planner"),
    layers=("LOW_BITS_MASK", "STRIP_BYTES", "KittyImage", "Layer", "make_layer", "new_ids",
            "new_image_id", "prepare"),
    uploader=("Uploader", "Writer")))

__all__ = [
    "APC", "CHUNK", "DA1", "DIACRITICS", "LOW_BITS_MASK", "ST", "STRIP_BYTES", "Command",
    "KeyPace", "KittyImage", "Layer", "LinkEstimate", "Pixels", "Planner", "Reply",
    "ReplyFilter", "Uploader", "Writer", "canvas", "command", "delete", "edit",
    "encode_pixels", "make_layer", "new_ids", "new_image_id", "parse_commands",
    "parse_reply", "place", "prepare", "transmit",
]

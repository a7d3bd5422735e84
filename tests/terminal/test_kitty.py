"""The kitty graphics protocol module: commands parsed back, replies taken out of the input,
the pre-sender's pacing, priorities and memory budget."""

from __future__ import annotations

import base64
import io
import re
import zlib

import numpy as np
from PIL import Image

from tests.helpers.kitty_fake import FakeKitty, decode
from tests.helpers.photos import photo
from tui_label.terminal import kitty
from tui_label.terminal.kitty import CHUNK, DA1, Reply, ReplyFilter, Uploader, parse_commands


def test_a_big_transmit_is_chunked_and_parses_back_to_the_same_pixels():
    image = photo(300, 200)
    data = kitty.transmit(42, image)
    chunks = re.findall(rb"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\", data)
    assert len(chunks) > 1
    assert all(len(payload) <= CHUNK for _, payload in chunks)
    assert b"a=t" in chunks[0][0] and b"i=42" in chunks[0][0] and chunks[0][0].endswith(b"m=1")
    assert all(control in (b"m=1,q=1", b"m=0,q=1") for control, _ in chunks[1:])
    assert chunks[-1][0].startswith(b"m=0")
    [(end, command)] = parse_commands(data)
    assert end == len(data)
    assert command.action == "t" and command.image_id == 42 and command.keys["q"] == "1"
    assert (decode(command)[..., :3] == np.asarray(image)).all()


def test_frame_edits_repeat_their_action_in_every_chunk():
    # kitty 0.26 treats a chunk without a=f as a transmission's (checked in the real kitty)
    data = kitty.edit(9, kitty.encode_pixels(photo(300, 100)), y=40)
    chunks = re.findall(rb"\x1b_G([^;\x1b]*);", data)
    assert len(chunks) > 1
    assert all(c.startswith(b"a=f,r=1,m=") for c in chunks[1:])
    [(_, command)] = parse_commands(data)
    assert command.keys["y"] == "40" and command.action == "f"


def test_the_smaller_encoding_is_chosen():
    flat = Image.new("RGB", (400, 300), (10, 200, 30))
    noisy = photo(200, 150, noise=60)
    for image in (flat, noisy):
        pixels = kitty.encode_pixels(image)
        raw = zlib.compress(image.tobytes(), 1)
        png = io.BytesIO()
        image.save(png, "PNG", compress_level=6)
        assert len(pixels.data) == min(len(raw), len(png.getvalue()))
        if pixels.keys["f"] == 24:
            assert pixels.keys == {"f": 24, "o": "z", "s": image.width, "v": image.height}
            assert zlib.decompress(pixels.data) == image.tobytes()
        else:
            assert Image.open(io.BytesIO(pixels.data)).tobytes() == image.tobytes()


def test_place_and_delete_commands():
    [(_, p)] = parse_commands(kitty.place(7, 120, 40, placement_id=3, z=1))
    assert p.keys == {"a": "p", "i": "7", "p": "3", "c": "120", "r": "40", "C": "1", "z": "1",
                      "q": "2"}
    [(_, d)] = parse_commands(kitty.delete(7))
    assert d.keys == {"a": "d", "d": "i", "i": "7", "q": "2"}
    [(_, d)] = parse_commands(kitty.delete(7, free=True))
    assert d.keys["d"] == "I"


def test_a_layer_is_a_transparent_canvas_filled_by_strips():
    image = photo(640, 200, seed=3)
    layer = kitty.make_layer(image)
    term = FakeKitty()
    term.feed(layer.pieces[0])
    canvas = term.images[layer.image_id]
    assert canvas.pixels.shape == (200, 640, 4) and not canvas.pixels[..., 3].any()
    assert len(layer.pieces[0]) < 1000
    assert len(layer.pieces) > 2
    for piece in layer.pieces[1:]:
        term.feed(piece)
    stored = term.images[layer.image_id]
    assert stored.complete
    assert (stored.pixels[..., :3] == np.asarray(image)).all()


def test_replies_are_taken_out_of_the_input_and_keys_stay():
    f = ReplyFilter()
    text, replies = f.feed("1\x1b_Gi=7;OK\x1b\\2\x1b[?62;22c3\x1b[A")
    assert text == "123\x1b[A"
    assert replies == [Reply(7, "OK"), Reply(attributes=(62, 22))]
    assert not f.holding


def test_late_probe_answers_are_dropped_and_keys_like_them_stay():
    """The start-up probe's other answers, arriving after its time limit, never reach Textual
    (it read them as key presses: the digits of a size report are class keys)."""
    f = ReplyFilter()
    late = "\x1bP>|kitty(0.26.5)\x1b\\1\x1b[6;20;10t2\x1b[?2;0;1000;1000S3"
    text, replies = f.feed(late)
    assert text == "123" and replies == [Reply(), Reply(), Reply()]
    # keys that look alike pass: F5, shift+F4, a paste start, alt+p
    keys = "\x1b[15~\x1b[1;2S\x1b[200~\x1bp"
    assert f.feed(keys) == (keys, [])
    # a size report cut across reads is held, then dropped whole
    assert f.feed("\x1b[6;2") == ("", [])
    assert f.feed("0;10tx") == ("x", [Reply()])


def test_other_escape_sequences_pass_as_typed():
    f = ReplyFilter()
    # a private CSI that is not an answer (a cursor report), a CSI t that is not a size
    # report, an APC that is not graphics, and a DCS with no end that is too long to hold
    keys = "\x1b[?1;2R\x1b[5;1t\x1b_Xy"
    assert f.feed(keys) == (keys, [])
    long = "\x1bP" + "x" * 5000
    assert f.feed(long) == (long, [])
    assert not f.holding


def test_a_reply_cut_across_reads_is_held_until_it_ends():
    f = ReplyFilter()
    assert f.feed("a\x1b_Gi=12;ENOENT:no such") == ("a", [])
    assert f.holding
    assert f.feed(" image\x1b") == ("", [])
    text, replies = f.feed("\\b\x1b[?6")
    assert text == "b" and replies == [Reply(12, "ENOENT:no such image")]
    text, replies = f.feed("2;4c")
    assert text == "" and replies == [Reply(attributes=(62, 4))]


def test_an_escape_key_is_held_then_given_back():
    f = ReplyFilter()
    assert f.feed("\x1b") == ("", [])
    assert f.holding
    assert f.flush() == "\x1b"
    assert f.feed("\x1bx\x1b[200~") == ("\x1bx\x1b[200~", [])  # alt+x, a paste start


# ---------------------------------------------------------------------------------- uploader

class Wire:
    """What the uploader writes, and how many CSI c it is waiting on."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.term = FakeKitty()

    def __call__(self, data: bytes) -> None:
        self.term.feed(data, len(self.data))
        self.data += data

    @property
    def queries(self) -> int:
        return self.data.count(DA1)


def images(n: int, size=(320, 200)) -> list[kitty.KittyImage]:
    return [kitty.prepare(photo(*size, seed=i)) for i in range(n)]


def answer_all(up: Uploader, wire: Wire, answered: int) -> int:
    while answered < wire.queries:
        answered += 1
        up.on_reply(Reply(attributes=(62, 22)))
    return answered


def test_uploads_wait_for_the_terminal_answers():
    wire = Wire()
    up = Uploader(wire, min_piece=4000)
    shown, *rest = images(4)
    up.show(shown)
    up.resume()
    up.ahead(rest)
    first = len(wire.data)
    assert wire.queries >= 1
    # no answer yet: no more than a window's worth unanswered
    assert up.in_flight() <= up._window() + max(len(p) for i in rest for layer in i.layers
                                                for p in layer.pieces)
    assert not all(layer.complete for i in rest for layer in i.layers)
    answered = answer_all(up, wire, 0)
    for _ in range(1000):
        answered = answer_all(up, wire, answered)
        if all(layer.complete for i in rest for layer in i.layers):
            break
    assert len(wire.data) > first
    assert all(wire.term.images[layer.image_id].complete for i in rest for layer in i.layers)
    assert up.link.samples > 0 and up.link.rtt is not None


def test_a_pre_sent_image_is_shown_with_a_placement_only():
    wire = Wire()
    up = Uploader(wire)
    shown, nxt = images(2)
    up.show(shown)
    up.resume()
    up.ahead([nxt])
    answered = 0
    while not nxt.full.complete:
        answered = answer_all(up, wire, answered)
    before = len(wire.data)
    layers = up.show(nxt)
    assert layers == [nxt.full]
    assert len(wire.data) == before  # nothing to upload: the key writes only its placement


def test_an_image_not_uploaded_goes_low_resolution_first_at_once():
    wire = Wire()
    up = Uploader(wire)
    [image] = images(1, size=(640, 400))
    layers = up.show(image)
    assert layers == [image.low]
    low = wire.term.images[image.low.image_id]
    assert low.complete and low.pixels.shape[:2] == (200, 320)  # half each way
    assert image.full.image_id not in wire.term.images  # the full one follows, paced
    started = []
    up.started = started.append
    up.resume()
    answered = answer_all(up, wire, 0)  # the low layer answered: the full one starts
    assert started == [image.full]  # the widget is told to place it over the low one
    while not image.full.complete:
        answered = answer_all(up, wire, answered)
    assert up.placeable(image) == [image.full]


def test_the_terminal_memory_stays_within_the_budget():
    wire = Wire()
    batch = images(12, size=(400, 300))
    per_image = sum(layer.memory for layer in batch[0].layers)
    up = Uploader(wire, budget=4 * per_image)
    answered = 0
    for pos in range(len(batch)):
        up.show(batch[pos])
        up.resume()
        up.ahead(batch[pos + 1:pos + 5])
        for _ in range(300):
            answered = answer_all(up, wire, answered)
        assert wire.term.memory <= up.budget
        assert up.memory() == wire.term.memory
        # The running total the budget is checked against is what the images held take.
        assert up._need() == sum(sum(layer.memory for layer in i.layers)
                                 for i in up._held.values())
    assert wire.term.peak_memory <= up.budget
    assert wire.term.images  # the shown one is kept
    assert batch[-1].low.image_id in wire.term.images or batch[-1].full.image_id in \
        wire.term.images
    freed = [c for _, c in wire.term.log if c.action == "d" and c.keys["d"] == "I"]
    assert freed  # images that left the window were deleted


def test_a_silent_terminal_stops_pre_sending_but_shows_images():
    wire = Wire()
    now = [0.0]
    up = Uploader(wire, clock=lambda: now[0])
    batch = images(4)
    up.show(batch[0])
    up.resume()
    up.ahead(batch[1:])
    sent = len(wire.data)
    now[0] = 10.0
    up.tick()
    assert up.silent
    up.ahead(batch[2:])
    assert len(wire.data) == sent  # nothing more without answers
    layers = up.show(batch[3])  # a key: still shown at once
    assert layers and all(wire.term.images[layer.image_id].complete for layer in layers)


def test_a_base64_chunk_never_breaks_an_escape_code():
    data = kitty.command({"a": "t", "i": 1, "f": 100}, bytes(range(256)) * 40)
    for m in re.finditer(rb"\x1b_G[^\x1b]*\x1b\\", data):
        assert b"\x1b" not in m.group(0)[1:-2]
    payload = b"".join(p for _, p in re.findall(rb"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\", data))
    assert base64.standard_b64decode(payload) == bytes(range(256)) * 40


def test_answers_read_in_a_burst_do_not_inflate_the_rate():
    link = kitty.LinkEstimate()
    rate, rtt, piece = 1_250_000.0, 0.04, 40_000
    # pieces sent back to back onto an idle line at t=0, answered as the line delivers them
    answers = [rtt + (k + 1) * piece / rate for k in range(20)]
    previous = 0.0
    for t in answers[:10]:
        link.update(piece, 0.0, t, previous)
        previous = t
    # the app was busy: the last ten answers are read all at once
    for _ in answers[10:]:
        link.update(piece, 0.0, answers[-1], previous)
        previous = answers[-1]
    assert link.rate is not None and 0.5 * rate <= link.rate <= 2.0 * rate
    idle = kitty.LinkEstimate(rate=rate)
    idle.update(piece, 10.0, 10.0 + rtt + piece / rate, 0.0)
    assert abs(idle.rtt - rtt) < 1e-6  # its own bytes on the line are not round trip


def test_a_key_holds_the_pre_sending_until_the_image_is_shown():
    wire = Wire()
    now = [0.0]
    up = Uploader(wire, clock=lambda: now[0])
    shown, *rest = images(3)
    up.show(shown)
    up.resume()
    up.ahead(rest)
    up.hold(0.3)
    sent, waiting = len(wire.data), wire.queries
    for _ in range(waiting):
        up.on_reply(Reply(attributes=(62, 22)))
    assert len(wire.data) == sent  # answers arrive, but nothing new goes during the hold
    now[0] = 1.0
    up.tick()  # the hold ran out (no image shown): pre-sending goes on
    assert len(wire.data) > sent


def test_every_image_on_screen_gets_its_full_layer_and_stays_held():
    """A grid page: several images on screen at once, each in its own slot. All get their
    full layers (before the images ahead), each listener hears of every full layer, and the
    budget never frees one on screen; a hidden slot's image may go."""
    wire = Wire()
    page = images(3, size=(400, 300))
    nxt = images(3, size=(400, 300))
    per_image = sum(layer.memory for layer in page[0].layers)
    up = Uploader(wire, budget=4 * per_image)
    heard: list[kitty.Layer] = []
    up.listen(heard.append)
    for slot, image in enumerate(page):
        assert up.show(image, slot) == [image.low]
    up.resume()
    up.ahead(nxt)
    answered = 0
    for _ in range(2000):
        answered = answer_all(up, wire, answered)
        if all(i.full.complete for i in page):
            break
    assert all(wire.term.images[i.full.image_id].complete for i in page)
    assert {id(layer) for layer in heard} >= {id(i.full) for i in page}
    for _ in range(300):
        answered = answer_all(up, wire, answered)
    assert all(i.full.image_id in wire.term.images for i in page)  # none freed
    assert wire.term.memory <= up.budget
    up.hide(0)
    up.hide(1)
    up.ahead(images(3, size=(400, 300)))
    for _ in range(300):
        answered = answer_all(up, wire, answered)
    assert page[2].full.image_id in wire.term.images  # still on screen
    assert page[0].full.image_id not in wire.term.images  # hidden: freed for the new ones
    assert wire.term.memory <= up.budget

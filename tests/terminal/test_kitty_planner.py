"""The kitty planner (issue 17): each image as sharp as the measured link carries before the
next key at the user's measured pace, on a fake clock and a fake 2 Mbit/s link."""

from __future__ import annotations

from tests.helpers.kitty_fake import FakeLink
from tests.helpers.photos import photo
from tui_label.terminal import kitty
from tui_label.terminal.kitty import KeyPace, Planner, Uploader

RATE = 2e6 / 8  # 2 Mbit/s in bytes a second
RTT = 0.08
PACE = 1.5  # seconds a key


def run_keys(count: int, size=(1200, 800)) -> tuple[FakeLink, list[kitty.KittyImage]]:
    """``count`` keys, one every ``PACE`` seconds, each showing the next photo; the uploader
    pre-sends the next four as the labeler does. The planner runs its remakes inline."""
    link = FakeLink(RATE, RTT)
    planner = Planner(pace=KeyPace(clock=link.clock), run=lambda job: job())
    up = Uploader(link, clock=link.clock, planner=planner, link=planner.link)
    link.on_reply = up.on_reply
    batch = [planner.prepare(photo(*size, seed=i, noise=3.0)) for i in range(count + 4)]
    for k in range(count):
        link.advance(k * PACE)
        up.hold()  # the key was read
        up.show(batch[k])
        up.resume()  # the frame with its placement is out
        up.ahead(batch[k + 1:k + 5])
    link.advance(count * PACE)
    return link, batch


def test_at_2_mbit_and_a_key_every_1_5_s_the_full_layer_fits_what_the_link_carries():
    link, batch = run_keys(10)
    carried = RATE * PACE  # bytes the link carries between two keys
    photo_size = kitty.prepare(batch[0].source).full.size
    assert photo_size > 2 * carried  # the whole photo could never keep up
    for k in range(4, 10):  # once the rate and the pace are measured
        image = batch[k]
        assert image.low.size + image.full.size <= carried, (k, image.full.width)
        assert image.full.width < image.source.width  # smaller than the photo ...
        assert image.full.width >= image.source.width // 4  # ... yet more than a thumbnail
        # and shown at that resolution before the next key
        assert link.arrived(image.full.image_id) <= (k + 1) * PACE, k
        assert link.term.images[image.full.image_id].complete


def test_a_fast_link_keeps_the_whole_photo():
    link = FakeLink(20e6 / 8, 0.02)  # 2.5 MB a second: a photo here is about 0.2 s of it
    planner = Planner(pace=KeyPace(clock=link.clock), run=lambda job: job())
    up = Uploader(link, clock=link.clock, planner=planner, link=planner.link)
    link.on_reply = up.on_reply
    planner.link.rate = link.rate  # as measured (a short round trip may give no sample)
    batch = [planner.prepare(photo(600, 400, seed=i, noise=3.0)) for i in range(6)]
    for k in range(4):
        link.advance(k * PACE)
        up.show(batch[k])
        up.resume()
        up.ahead(batch[k + 1:k + 5])
    assert planner.budget() > 2 * max(i.low.size + i.full.size for i in batch)
    assert all(image.full.width == 600 for image in batch)


def test_the_pace_is_the_median_interval_without_pauses():
    now = [0.0]
    pace = KeyPace(clock=lambda: now[0])
    for t in (0.0, 1.0, 2.5, 4.0, 60.0, 61.5):  # a pause of 56 s is no pace
        now[0] = t
        pace.moved()
    assert pace.seconds == 1.5


def test_a_grid_page_shown_with_one_key_is_one_move_and_shares_the_budget():
    """A page of the grid review (issue 18) shows 24 images with one key every 2 s: the pace
    is 2 s, not the microseconds between its cells, and the 24 share what the link carries."""
    now = [0.0]
    planner = Planner(pace=KeyPace(clock=lambda: now[0]))
    planner.link.rate = RATE
    for page in range(4):
        for cell in range(24):
            now[0] = page * 2.0 + cell * 0.0005
            planner.pace.moved()
    assert planner.pace.seconds == 2.0 and planner.pace.images == 24
    assert planner.budget() == RATE * 2.0 * planner.share / 24
    now[0] = 9.0
    planner.pace.moved()  # back to one image a key
    assert planner.budget() == RATE * 2.0 * planner.share

"""A steady typist on sixel photos loses no key (issue 17, item 12).

The labeler refuses a key while the next image is not drawn yet. With sixel at 160x48 on
photos, preparing an image (decode, fit, sixel encoding, on the decode threads) took longer
than a typist's 300 ms between keys: 4 keys of 14 were refused. The keys here come open loop,
as a typist's do, and each one is checked against the stage's state when it is sent: the
image it labels must be drawn (so the key is taken).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from textual import events

from tests.helpers.app import labels_by_path, wait_shown
from tests.helpers.photos import portrait
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store
from tui_label.tui.app import LabelApp
from tui_label.tui.widgets.image_view import ImageView, load_renderer

SIZE = (160, 48)
PACE = 0.3  # seconds between keys: a steady typist
KEYS = 14
XTERM_LARGEST = (1000, 1000)  # what xterm answers to XTSMGRAPHICS by default


def photos(root: Path, count: int) -> None:
    """Camera-sized JPEGs (1800 to 2600 pixels wide, a few portrait)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        width = 1800 + 200 * (i % 5)
        size = (width * 2 // 3, width) if i % 4 == 3 else (width, width * 2 // 3)
        portrait(*size, seed=i).save(root / f"photo{i:02d}.jpg", quality=90)


async def test_a_steady_typist_on_sixel_photos_loses_no_key(tmp_path: Path):
    root = tmp_path / "photos"
    photos(root, KEYS + 6)
    store = Store(tmp_path / "labels.db", annotator="tester")
    store.set_classes([ClassSpec("a", "1"), ClassSpec("b", "2")])
    store.sync_images(scan(root))
    renderer = replace(load_renderer("sixel"), max_size=XTERM_LARGEST)
    app = LabelApp(store, root, renderer, rescan=False, live_head_every=0)
    refused, not_drawn, not_prepared = [], [], []
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.label_screen
            app.bell = lambda: refused.append(screen.session.pos)
            await wait_shown(pilot, screen, 0)
            view = screen.query_one(ImageView)
            for n in range(KEYS):
                await asyncio.sleep(PACE)
                stage, session = screen.stage, screen.session
                if stage.seen_ms() is None:
                    not_drawn.append(n)  # this key would be refused
                after, geometry = session.ahead(1), view.geometry()
                if after and not stage.prefetcher.prepared(after[0].id, geometry):
                    not_prepared.append(n)  # the key would find nothing to draw
                key = events.Key("1", "1")
                key.set_sender(app)
                app.post_message(key)
            await pilot.pause(PACE)
            labeled = labels_by_path(store)
    finally:
        store.close()
    # every key found the image it labels drawn, and none was refused (the keys that found
    # the next image still being prepared are said, not counted: that image was drawn
    # before the key after it, which is what a typist needs)
    assert (refused, not_drawn) == ([], []), f"next image not prepared at keys {not_prepared}"
    assert len(labeled) == KEYS

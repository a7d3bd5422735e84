"""``tui-label cache``: fill the decode cache ahead of a run, with a progress bar.

No torch: the cache is numpy, SQLite and Pillow (``tui_label.media.decode_cache``).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from tui_label.cli.common import db_option, dir_argument, events_option, existing_db
from tui_label.errors import UsageError
from tui_label.runs.options import SMALL_CNN_SIZE


@click.command("cache")
@dir_argument
@db_option
@click.option("--size", type=int, default=SMALL_CNN_SIZE, show_default=True,
              help="The image size of the runs to come (their --image-size: 64 for the small "
                   "CNN, 224 for the pretrained models).")
@click.option("--labeled", is_flag=True,
              help="Only the labeled images (what a run trains on), not every image (what "
                   "its predictions read).")
@click.option("--workers", type=int, default=None,
              help="Decoding threads (default: every core).")
@events_option("JSON lines on stdout, or progress bars on a terminal.")
def cache(folder, db, size, labeled, workers, events) -> None:
    """Decode the images into the cache beside the database (<db>-cache/<size>px/), so that
    runs and predictions at that size start without decoding. Only new and changed files are
    decoded; several processes may fill it at once."""
    if not 8 <= size <= 4096:  # as the trainer's --image-size
        raise UsageError(f"--size must be between 8 and 4096, not {size}")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    db, root = existing_db(folder, db)
    from tui_label.media.decode_cache import DecodeCache
    from tui_label.runs.emit import Emitter
    from tui_label.store import Store

    store = Store(db, readonly=True)
    try:
        if root is None:
            recorded = store.get_setting("root")
            if not recorded:
                raise UsageError("which folder holds the images? give DIR")
            root = Path(recorded)
        if not root.is_dir():
            raise UsageError(f"dataset folder not found: {root}")
        targets = store.readable_images(labeled_only=labeled)
    finally:
        store.close()
    emitter = Emitter(events)
    with DecodeCache.open(db, size) as decode_cache:
        result = decode_cache.fill(
            [(image_id, root / path) for image_id, path in targets],
            workers=workers or os.cpu_count() or 1,
            progress=lambda done, total, decoded: emitter.emit(
                "caching", done=done, total=total, decoded=decoded))
    emitter.emit("cached", images=len(targets), decoded=result.decoded, reused=result.reused,
                 unreadable=len(result.unreadable), seconds=result.seconds,
                 folder=str(decode_cache.folder))

"""A run warns when duplicate images straddle its train/validation split (the validation
accuracy then overstates), pointing to `tui-label duplicates`; a copy on one side of the split
is no leak, and says nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from tests.helpers.images import smooth
from tests.helpers.training import label_where, make_db, opts_for, train_in_process
from tui_label.core.hashing import unit_hash
from tui_label.media.scan import scan
from tui_label.store import Store

VAL_FRACTION = 0.2  # TrainOptions' default


def side(path: str) -> str:
    """The split a new image's path gets (``Store.assign_splits``)."""
    return "val" if unit_hash(path) < VAL_FRACTION else "train"


def add_copy(root: Path, db: Path, original: str, same_side: bool, *, resize: bool) -> str:
    """A copy of ``original`` (the same file, or resized: a near copy) whose path gets the
    other split (or the same), labeled; returns its path. The labeled images' splits are
    stored first (as a run stores them), so the original keeps its side."""
    store = Store(db, annotator="tester")
    try:
        split = store.assign_splits(store.training_items(), VAL_FRACTION)
        here = split[store.image_ids()[original]]
        want = here if same_side else ("train" if here == "val" else "val")
        name = next(f"red/copy{n}.png" for n in range(1000) if side(f"red/copy{n}.png") == want)
        if resize:  # a picture (not noise, whose resized copy is another hash) and its copy
            smooth((16, 16), seed=3, tint=(230, 40, 40)).save(root / original)
            Image.open(root / original).resize((24, 24)).save(root / name)
        else:
            shutil.copy(root / original, root / name)
        store.sync_images(scan(root))
        label_where(store, lambda path: path == name)
    finally:
        store.close()
    return name


def leak_warnings(events: list[dict]) -> list[str]:
    return [e["message"] for e in events
            if e["event"] == "warning" and "tui-label duplicates" in e["message"]]


def splits_of(db: Path, *paths: str) -> list[str]:
    store = Store(db)
    try:
        ids, split = store.image_ids(), store.splits()
        return [split[ids[p]] for p in paths]
    finally:
        store.close()


def test_a_near_copy_on_both_sides_of_the_split_warns(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=6)
    original = "red/000.png"
    copy = add_copy(root, db, original, same_side=False, resize=True)
    code, events = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0, events[-1]
    assert sorted(splits_of(db, original, copy)) == ["train", "val"]
    (warning,) = leak_warnings(events)
    assert warning.startswith("1 group(s) of duplicate images (2 images:")
    assert "straddle the train/validation split" in warning


def test_a_copy_on_one_side_of_the_split_or_none_says_nothing(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=6)
    code, events = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0, events[-1]
    assert leak_warnings(events) == []
    copy = add_copy(root, db, "red/001.png", same_side=True, resize=False)
    code, events = train_in_process(opts_for(root, db, epochs=1))
    assert code == 0, events[-1]
    assert len(set(splits_of(db, "red/001.png", copy))) == 1
    assert leak_warnings(events) == []

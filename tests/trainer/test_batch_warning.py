"""The default batch size never warns on a small run: it is capped at the training images
without a word. A batch asked for that the training set cannot fill still says so."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.training import make_db, opts_for, train_in_process
from tui_label.runs.options import TrainOptions


def batch_warnings(events: list[dict]) -> list[str]:
    return [e["message"] for e in events if e["event"] == "warning" and "batch" in e["message"]]


def test_a_default_run_on_20_images_has_no_batch_size_warning(tmp_path: Path):
    root, db, labeled = make_db(tmp_path, per_class=7, keep=lambda path: path != "red/006.png")
    assert labeled == 20
    opts = TrainOptions(db=db, root=root, epochs=1, image_size=16, device="cpu",
                        events="json")  # the batch size left at its default, as the panel does
    assert opts.batch_size > labeled
    code, events = train_in_process(opts)
    assert code == 0, events[-1]
    started = next(e for e in events if e["event"] == "started")
    assert started["num_train"] < opts.batch_size
    assert batch_warnings(events) == []


def test_an_explicit_batch_over_the_training_set_warns(tmp_path: Path):
    root, db, _ = make_db(tmp_path, per_class=7, keep=lambda path: path != "red/006.png")
    code, events = train_in_process(opts_for(root, db, epochs=1, batch_size=32))
    assert code == 0, events[-1]
    started = next(e for e in events if e["event"] == "started")
    (warning,) = batch_warnings(events)
    assert warning == (f"--batch-size 32 is more than the {started['num_train']} training "
                       f"images: batches of {started['num_train']}")

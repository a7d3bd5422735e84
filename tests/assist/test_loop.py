"""The model loop without a screen: when to refit the live head or retrain, loading newer
predictions once, and the live head's process handle. No textual anywhere here."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.data import make_images
from tests.helpers.fake_model import save_run
from tui_label.assist.loop import Decision, ModelLoop
from tui_label.assist.model_view import ModelView, run_predictions_dir
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.store import Store

PROBS = {f"img{k:03d}.png": [0.1, 0.1, 0.8] for k in range(8)}
EMB = {f"img{k:03d}.png": ([0.0, 1.0] if k % 2 else [1.0, 0.0]) for k in range(8)}


@pytest.fixture
def db(tmp_path: Path) -> Store:
    root = tmp_path / "data"
    make_images(root, 8)
    store = Store(tmp_path / "labels.db", annotator="tester")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("bird", "3")])
    store.sync_images(scan(root))
    yield store
    store.close()


def test_the_loop_imports_no_textual_torch_or_scikit_learn():
    from tests.helpers.imports import imported_after

    loaded = imported_after("tui_label.assist.loop")
    assert "textual" not in loaded
    assert "torch" not in loaded and "sklearn" not in loaded


def test_the_live_head_refits_every_n_labels_when_the_run_has_embeddings(db: Store):
    save_run(db, PROBS, embeddings=EMB)
    model = ModelView.load(db)
    loop = ModelLoop(db.path, live_head_every=4)
    refits = [made for made in range(1, 14)
              if loop.after_labels(made, model, training_active=False).refit]
    assert refits == [4, 8, 12]


def test_no_refit_without_embeddings_a_model_or_the_setting(db: Store):
    save_run(db, PROBS)  # no embeddings
    without_embeddings = ModelView.load(db)
    loop = ModelLoop(db.path, live_head_every=2)
    assert loop.after_labels(2, without_embeddings, training_active=False) == Decision()
    assert loop.after_labels(4, None, training_active=False) == Decision()
    save_run(db, PROBS, embeddings=EMB)
    model = ModelView.load(db)
    assert ModelLoop(db.path, live_head_every=0).after_labels(
        10, model, training_active=False) == Decision()
    multi = ModelLoop(db.path, live_head_every=2, multi_label=True)
    assert multi.live_head_every == 0
    assert multi.after_labels(10, model, training_active=False) == Decision()


def test_auto_train_every_n_labels_one_run_at_a_time(db: Store):
    loop = ModelLoop(db.path, auto_train=3)
    assert loop.after_labels(2, None, training_active=False) == Decision()
    assert loop.after_labels(3, None, training_active=False) == Decision(train=True)
    assert loop.after_labels(5, None, training_active=False) == Decision()
    # Due at 6, but a run is going: it waits, then starts with the next label.
    assert loop.after_labels(6, None, training_active=True) == Decision()
    assert loop.after_labels(7, None, training_active=False) == Decision(train=True)
    loop.training_started(8)  # a run started by hand: counted from there
    assert loop.after_labels(10, None, training_active=False) == Decision()
    assert loop.after_labels(11, None, training_active=False) == Decision(train=True)
    assert ModelLoop(db.path, auto_train=0).after_labels(
        100, None, training_active=False) == Decision()


def test_refit_and_train_can_both_be_due(db: Store):
    save_run(db, PROBS, embeddings=EMB)
    model = ModelView.load(db)
    loop = ModelLoop(db.path, live_head_every=2, auto_train=2)
    assert loop.after_labels(2, model, training_active=False) == Decision(refit=True, train=True)
    assert loop.after_labels(3, model, training_active=False) == Decision()


def test_load_takes_newer_predictions_once(db: Store):
    loop = ModelLoop(db.path)
    assert loop.load(None) is None  # no run yet
    run = save_run(db, PROBS)
    loaded = loop.load(None)
    assert loaded is not None and loaded.failed is None
    assert loaded.model.run_id == run
    assert loaded.model.runner == loop.run_elsewhere  # TypiClust runs in the head's process
    assert loop.load(loaded.model) is None  # the same predictions: nothing new
    run2 = save_run(db, PROBS)
    assert loop.load(loaded.model).model.run_id == run2
    assert ModelLoop(db.path, multi_label=True).load(None) is None


def test_damaged_predictions_fail_once(db: Store):
    run = save_run(db, PROBS)
    (run_predictions_dir(db.path, run) / "probs.npy").write_bytes(b"not an array")
    loop = ModelLoop(db.path)
    loaded = loop.load(None)
    assert loaded is not None and loaded.model is None
    assert loaded.failed == (run, db.latest_predicted_run()["predicted_at"])
    assert f"the predictions of run {run} are damaged" in loaded.reason
    assert loop.failed == loaded.failed
    assert loop.load(None) is None  # said once


class FakeHead:
    """Stands in for ``LiveHead``: every row gets the same probabilities, at once."""

    instances: list[FakeHead] = []

    def __init__(self) -> None:
        self.refits: list[int] = []
        self.cancel = False
        self.closed = False
        FakeHead.instances.append(self)

    def refit(self, embeddings, rows, labels, num_classes):
        self.refits.append(len(labels))
        future: Future = Future()
        if self.cancel:
            future.cancel()
        else:
            n = len(np.load(embeddings, mmap_mode="r"))
            future.set_result((None, np.full((n, num_classes), 1 / num_classes)))
        return future

    def close(self) -> None:
        self.closed = True


def test_refit_starts_the_head_once_and_lays_the_live_head_over_the_run(db: Store,
                                                                        monkeypatch):
    import tui_label.assist.live_head as live_head

    monkeypatch.setattr(live_head, "LiveHead", FakeHead)
    FakeHead.instances.clear()
    save_run(db, PROBS, embeddings=EMB)
    model = ModelView.load(db)
    started: list[bool] = []
    loop = ModelLoop(db.path, live_head_every=2, before_head=lambda: started.append(True))
    assert loop.refit(model) is None  # no labels: nothing to learn yet
    ids = {r[1]: r[0] for r in db.queue_rows()}
    cat, dog = (next(c.id for c in db.classes() if c.name == n) for n in ("cat", "dog"))
    db.label(ids["img000.png"], cat)
    db.label(ids["img001.png"], dog)
    view = loop.refit(model)
    assert view is not None and view.live is not None and view.live.labels == 2
    assert view.run_id == model.run_id and model.live is None  # a new view
    head = loop.head()
    head.cancel = True  # a newer refit replaced this one
    assert loop.refit(model) is None
    assert started == [True] and FakeHead.instances == [head] and head.refits == [2, 2]
    loop.close()
    assert head.closed

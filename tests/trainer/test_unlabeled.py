"""Learning from unlabeled images as well (``--unlabeled``, FixMatch): which images, how
many, and the loss term: targets from the weak view, loss on the strong one, only where the
model is sure, not in the warm-up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers.cli import assert_usage_error, run_cli
from tests.helpers.training import make_db, opts_for, train_in_process
from tui_label.runs.options import UNLABELED_SAMPLE, UNLABELED_UNTIL, TrainOptions
from tui_label.runs.state import RunState
from tui_label.store import Store
from tui_label.trainer import data as tdata
from tui_label.trainer import fit as fit_module
from tui_label.trainer.fit import PSEUDO_THRESHOLD, UNLABELED_PER_LABELED, Fit
from tui_label.trainer.plan import unlabeled_sample


def test_the_default_learns_from_unlabeled_images_only_while_labels_are_few(tmp_path):
    opts = TrainOptions(db=tmp_path / "x.db")
    assert opts.unlabeled_sample(100) == UNLABELED_SAMPLE
    assert opts.unlabeled_sample(UNLABELED_UNTIL) == 0
    assert TrainOptions(db=tmp_path / "x.db", unlabeled=7).unlabeled_sample(10**6) == 7
    assert TrainOptions(db=tmp_path / "x.db", multi_label=True).unlabeled_sample(10) == 0


def test_a_negative_unlabeled_count_is_a_usage_error(tmp_path):
    root, db, _ = make_db(tmp_path, per_class=3)
    before = db.read_bytes()
    code, _, err = run_cli("train", "--db", str(db), "--unlabeled", "-1", str(root))
    assert_usage_error(code, err, "--unlabeled must be 0 or more")
    assert db.read_bytes() == before


def test_the_sample_is_unlabeled_readable_images_drawn_with_the_seed(tmp_path):
    _, db, _ = make_db(tmp_path, per_class=10, keep=lambda path: path.startswith("red"))
    store = Store(db)
    items = store.training_items()
    ids = {path: image_id for image_id, path in store.readable_images()}
    store.record_decodes([(ids["green/000.png"], None, None, "not an image")])
    every = unlabeled_sample(store, items, 100, seed=0)
    assert sorted(it.path for it in every) == sorted(
        p for p in ids if not p.startswith("red") and p != "green/000.png")
    assert all(it.class_id is None for it in every)
    some = unlabeled_sample(store, items, 5, seed=0)
    assert len(some) == 5 and {it.image_id for it in some} < {it.image_id for it in every}
    assert [it.image_id for it in some] == sorted(it.image_id for it in some)
    assert some == unlabeled_sample(store, items, 5, seed=0)
    assert some != unlabeled_sample(store, items, 5, seed=1)
    assert unlabeled_sample(store, items, 0, seed=0) == []
    store.close()


class Brightness(nn.Module):
    """Logits ``scale * (m, -m)`` from each image's mean normalized value ``m``: bright images
    are class 0, dark ones class 1; ``scale`` sets how sure it is."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return self.scale * torch.stack([m, -m], dim=1)


def brightness_fit(tmp_path, scale: float, unlabeled: bool) -> Fit:
    images = torch.cat([torch.full((4, 3, 8, 8), 255, dtype=torch.uint8),
                        torch.zeros((4, 3, 8, 8), dtype=torch.uint8)])
    opts = opts_for(tmp_path, tmp_path / "x.db")
    return Fit(Brightness(scale), opts, torch.device("cpu"), torch.tensor([0, 1] * 4), 2,
               torch.Generator().manual_seed(0), unlabeled=images if unlabeled else None)


def labeled_batch() -> tuple[torch.Tensor, torch.Tensor]:
    x = tdata.normalize(torch.cat([torch.full((2, 3, 8, 8), 255, dtype=torch.uint8),
                                   torch.zeros((2, 3, 8, 8), dtype=torch.uint8)]))
    return x, torch.tensor([0, 0, 1, 1])


def past_warm_up(fit: Fit) -> Fit:
    fit.scheduler.last_epoch = fit.warm_up_steps
    return fit


def step_loss(fit: Fit, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss of one training step on ``x, y``, with the unlabeled images it would draw."""
    (drawn,) = fit.unlabeled_draws([len(x)])
    return fit.loss(x, y, None if drawn is None else fit.unlabeled[drawn])


def test_a_sure_model_learns_its_weak_view_predictions_on_the_strong_views(tmp_path,
                                                                          monkeypatch):
    x, y = labeled_batch()
    alone = step_loss(brightness_fit(tmp_path, 20.0, unlabeled=False), x, y).item()
    agreeing = step_loss(past_warm_up(brightness_fit(tmp_path, 20.0, True)), x, y).item()
    assert abs(agreeing - alone) < 1e-3  # the strong views agree with the weak ones
    # Strong views that invert the image: each one's target is the other class, by far
    monkeypatch.setattr(tdata, "strong_augment",
                        lambda batch, **kw: -tdata.augment(batch, **kw))
    flipped = past_warm_up(brightness_fit(tmp_path, 20.0, unlabeled=True))
    assert step_loss(flipped, x, y).item() > alone + 10


def test_unsure_predictions_and_the_warm_up_add_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(tdata, "strong_augment",
                        lambda batch, **kw: -tdata.augment(batch, **kw))
    x, y = labeled_batch()
    # (A scale this small keeps every softmax under the threshold.)
    unsure = past_warm_up(brightness_fit(tmp_path, 0.1, unlabeled=True))
    assert unsure.unlabeled_draws([4])[0].shape[0] == 4 * UNLABELED_PER_LABELED
    assert step_loss(unsure, x, y).item() == \
        step_loss(brightness_fit(tmp_path, 0.1, False), x, y).item()
    sure = brightness_fit(tmp_path, 20.0, unlabeled=True)
    assert sure.warm_up_steps > 0 and sure.unlabeled_draws([4]) == [None]
    assert step_loss(sure, x, y).item() == \
        step_loss(brightness_fit(tmp_path, 20.0, False), x, y).item()
    assert 0.5 < PSEUDO_THRESHOLD < 1


def test_a_run_learns_from_the_unlabeled_images_and_predicts_them_without_decoding_again(
        tmp_path, monkeypatch):
    root, db, labeled = make_db(tmp_path, per_class=8, keep=lambda p: int(p[-7:-4]) < 4)
    drawn = []
    real = fit_module.Fit.loss

    def counted(self, x, y, unlabeled=None):
        drawn.append(unlabeled is not None)
        return real(self, x, y, unlabeled)

    monkeypatch.setattr(fit_module.Fit, "loss", counted)
    code, events = train_in_process(opts_for(root, db))
    assert code == 0, events
    started = next(e for e in events if e["event"] == "started")
    assert started["num_unlabeled"] == 24 - labeled == 12
    assert started["decoded"] == 24  # labeled and unlabeled, once each
    assert started["steps"] == tdata.steps_per_epoch(
        started["num_train"] * tdata.epoch_repeats(started["num_train"], 8, True), 8)
    assert any(drawn) and not all(drawn)  # after the warm-up only
    store = Store(db)
    run_id = store.latest_run_id()
    assert len(store.predictions(run_id)) == 24
    # Stored with the run: a panel opened on it later says it as the live event did.
    assert RunState.from_store(store, run_id).num_unlabeled == 12
    store.close()
    code, events = train_in_process(opts_for(root, db, unlabeled=0))
    started = next(e for e in events if e["event"] == "started")
    assert code == 0 and started["num_unlabeled"] == 0


def test_a_run_from_before_unlabeled_images_resumes_on_its_labels_alone(tmp_path):
    from tui_label.runs.resume import resumed_options

    opts = TrainOptions(db=tmp_path / "x.db")
    config = TrainOptions(db=tmp_path / "x.db").to_json()
    assert config.pop("unlabeled") is None
    resumed = resumed_options(opts, {"id": 3, "config": config})
    assert resumed.unlabeled == 0 and resumed.unlabeled_sample(10) == 0
    config["unlabeled"] = None  # a run of today keeps its default
    assert resumed_options(opts, {"id": 3, "config": config}).unlabeled_sample(10) \
        == UNLABELED_SAMPLE


def test_a_streamed_set_reads_its_unlabeled_images_ahead_and_trains_as_in_memory(
        tmp_path, monkeypatch):
    import threading

    root, db, _ = make_db(tmp_path, per_class=8, keep=lambda p: int(p[-7:-4]) < 4)
    _, in_memory = train_in_process(opts_for(root, db))
    threads: list[tuple[str, int]] = []
    real = tdata.CachedImages.host

    def spy(self, key):
        threads.append((threading.current_thread().name, len(key)))
        return real(self, key)

    monkeypatch.setattr(tdata, "IN_MEMORY_BYTES", 0)  # every set streamed from the cache
    monkeypatch.setattr(tdata.CachedImages, "host", spy)
    code, streamed = train_in_process(opts_for(root, db))
    assert code == 0, streamed
    started = next(e for e in streamed if e["event"] == "started")
    # The unlabeled reads (UNLABELED_PER_LABELED per labeled image: 16 for a batch of 8)
    # come from the read-ahead thread, not from the training step.
    unlabeled = [name for name, n in threads if n == 8 * UNLABELED_PER_LABELED]
    assert started["num_unlabeled"] == 12 and unlabeled
    assert all(name.startswith("prefetch") for name in unlabeled)
    def losses(events):
        return [e[k] for e in events if e["event"] == "epoch" for k in ("train_loss", "val_loss")]

    assert losses(streamed) == pytest.approx(losses(in_memory), rel=1e-5)

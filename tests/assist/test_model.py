"""``ModelView``: a run's predictions as the labeler reads them (no Textual, no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.fake_model import save_run
from tests.helpers.queue import queue_of
from tui_label.assist.model_view import LiveProbs, ModelUnavailable, ModelView, run_predictions_dir
from tui_label.config.settings import ClassSpec
from tui_label.store import Store


def ids(store: Store) -> dict[str, int]:
    return {r[1]: r[0] for r in store.queue_rows()}


def class_id(store: Store, name: str) -> int:
    return next(c.id for c in store.classes() if c.name == name)


def test_no_predicted_run_is_no_model(store: Store):
    assert ModelView.load(store) is None
    store.create_run("small-cnn", {}, ["cat", "dog", "bird"])  # a run without predictions
    assert ModelView.load(store) is None


def test_suggestions_are_the_top_classes_of_today(store: Store):
    run = save_run(store, {"img000.png": [0.1, 0.7, 0.2], "img001.png": [0.5, 0.3, 0.2]})
    model = ModelView.load(store)
    cat, dog, bird = (class_id(store, n) for n in ("cat", "dog", "bird"))
    assert model.run_id == run and model.source() == f"run {run}"
    got = model.suggestions(ids(store)["img000.png"])
    assert [c for c, _ in got] == [dog, bird, cat]
    assert [round(p, 3) for _, p in got] == [0.7, 0.2, 0.1]
    assert model.suggestions(ids(store)["img001.png"], k=1)[0][0] == cat
    assert model.suggestions(ids(store)["img005.png"]) == []  # not predicted
    assert model.warnings(0) == [] and not model.stale_classes


def test_labels_after_the_predictions_make_it_older(store: Store):
    save_run(store, {"img000.png": [0.1, 0.7, 0.2]})
    assert ModelView.load(store).labels_before == 0
    store.label(ids(store)["img003.png"], class_id(store, "cat"))
    model = ModelView.load(store)
    assert model.labels_before == 1
    # the run recorded no label counts: any label since it is worth saying
    assert model.warnings(model.labels_before) == [f"1 label newer than run {model.run_id}"]


def test_a_class_added_since_makes_it_stale_and_a_gone_one_is_never_suggested(store: Store):
    save_run(store, {"img000.png": [0.6, 0.3, 0.1]}, class_names=["cat", "dog", "bird"])
    store.set_classes([ClassSpec("dog", "2"), ClassSpec("bird", "3"), ClassSpec("fox", "4")])
    model = ModelView.load(store)
    assert model.stale_classes and model.warnings(0) == ["classes changed"]
    assert model.column_classes == [None, class_id(store, "dog"), class_id(store, "bird")]
    # cat (0.6) no longer exists: dog is the top suggestion.
    assert [c for c, _ in model.suggestions(ids(store)["img000.png"])] == [
        class_id(store, "dog"), class_id(store, "bird")]


@pytest.mark.parametrize("damage", ["delete", "truncate", "mismatch"])
def test_missing_or_damaged_predictions_are_one_line(store: Store, damage: str):
    run = save_run(store, {"img000.png": [0.1, 0.7, 0.2]})
    folder = run_predictions_dir(store.path, run)
    if damage == "delete":
        (folder / "probs.npy").unlink()
    elif damage == "truncate":
        (folder / "probs.npy").write_bytes(b"\x93NUMPY garbage")
    else:
        np.save(folder / "probs.npy", np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(ModelUnavailable) as info:
        ModelView.load(store)
    assert f"run {run}" in str(info.value) and "\n" not in str(info.value)


def test_probs_embeddings_and_out_of_sample_rows(store: Store):
    i = ids(store)
    save_run(store, {"img000.png": [0.1, 0.7, 0.2], "img001.png": [0.2, 0.2, 0.6]},
             embeddings={"img000.png": [1.0, 2.0], "img001.png": [3.0, 4.0]},
             oof={"img001.png": [0.9, 0.05, 0.05]})
    model = ModelView.load(store)
    probs = model.probs([i["img001.png"], i["img009.png"], i["img000.png"]])
    assert probs.shape == (3, 3) and np.isnan(probs[1]).all()
    np.testing.assert_allclose(probs[[0, 2]], [[0.2, 0.2, 0.6], [0.1, 0.7, 0.2]], rtol=1e-6)
    emb = model.embeddings([i["img000.png"], i["img002.png"]])
    np.testing.assert_array_equal(emb[0], [1.0, 2.0])
    assert np.isnan(emb[1]).all()
    oof = model.oof_probs([i["img000.png"], i["img001.png"]])
    assert np.isnan(oof[0]).all()
    np.testing.assert_allclose(oof[1], [0.9, 0.05, 0.05], rtol=1e-6)


def test_live_head_overlays_the_run_and_may_know_a_new_class(store: Store):
    i = ids(store)
    save_run(store, {"img000.png": [0.6, 0.3, 0.1], "img001.png": [0.6, 0.3, 0.1]})
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("bird", "3"),
                       ClassSpec("fox", "4")])
    model = ModelView.load(store)
    fox, cat = class_id(store, "fox"), class_id(store, "cat")
    live = LiveProbs(np.array([i["img000.png"]]), np.array([[0.2, 0.8]], dtype=np.float32),
                    [cat, fox], labels=40)
    both = model.with_live(live)
    assert both.source() == "live head · 40 labels" and model.source().startswith("run ")
    assert both.column_classes[-1] == fox
    assert both.suggestions(i["img000.png"], k=2) == [(fox, pytest.approx(0.8)),
                                                        (cat, pytest.approx(0.2))]
    # Not refit on img001: the run's probabilities, nothing for the new class.
    assert both.suggestions(i["img001.png"], k=1) == [(cat, pytest.approx(0.6))]
    assert both.probs([i["img001.png"]])[0, -1] == 0.0


def test_suspects_in_rank_order_and_resolving_one(store: Store):
    i = ids(store)
    for path, name in (("img000.png", "cat"), ("img001.png", "dog")):
        store.label(i[path], class_id(store, name))
    save_run(store, {"img000.png": [0.1, 0.8, 0.1], "img001.png": [0.7, 0.2, 0.1]},
             suspects=[("img001.png", "dog", "cat", 0.7, 0.2),
                       ("img000.png", "cat", "dog", 0.8, 0.1)])
    model = ModelView.load(store)
    assert model.suspects == (i["img001.png"], i["img000.png"])
    assert model.suspect_rows[i["img000.png"]]["predicted_class"] == class_id(store, "dog")
    assert model.resolved(i["img001.png"]).suspects == (i["img000.png"],)
    assert model.suspects == (i["img001.png"], i["img000.png"])  # the view itself is unchanged


def test_live_head_refits_in_its_own_process_on_the_current_labels(store: Store):
    from tui_label.assist.live_head import LiveHead
    from tui_label.assist.model_view import fit_live

    i = ids(store)
    cat, dog = class_id(store, "cat"), class_id(store, "dog")
    # Two clusters of embeddings; the run itself calls everything a bird.
    emb = {f"img{k:03d}.png": ([0.0, 1.0] if k % 2 else [1.0, 0.0]) for k in range(12)}
    save_run(store, {p: [0.1, 0.1, 0.8] for p in emb}, embeddings=emb)
    model = ModelView.load(store)
    with LiveHead() as head:
        assert fit_live(store, model, head, timeout=120) is None  # no labels yet
        for k in range(4):
            store.label(i[f"img{k:03d}.png"], dog if k % 2 else cat)
        live = fit_live(store, model, head, timeout=120)
    assert live.labels == 4 and live.class_ids == sorted([cat, dog])
    view = model.with_live(live)
    assert view.suggestions(i["img010.png"], k=1)[0][0] == cat
    assert view.suggestions(i["img011.png"], k=1)[0][0] == dog
    assert view.source() == "live head · 4 labels"


def test_typical_order_runs_typiclust_through_the_runner(store: Store):
    from tui_label.core.orders import OrderChoice

    i = ids(store)
    # Two tight clusters and one outlier; img000 is labeled.
    emb = {f"img{k:03d}.png": ([5.0 + 0.01 * k, 5.0] if k < 6 else [-5.0, -5.0 + 0.01 * k])
           for k in range(11)}
    emb["img011.png"] = [40.0, -40.0]
    save_run(store, {p: [0.4, 0.3, 0.3] for p in emb}, embeddings=emb)
    store.label(i["img000.png"], class_id(store, "cat"))
    ran = []

    def runner(fn, *args):
        ran.append(fn.__name__)
        return fn(*args)

    model = ModelView.load(store).with_runner(runner)
    queue = [it.path for it in queue_of(store, OrderChoice("typical"), model=model)]
    assert ran == ["typical_rows"]
    assert sorted(queue) == [f"img{k:03d}.png" for k in range(1, 12)]  # unlabeled, once each
    assert queue.index("img011.png") > 1  # the outlier is not among the first picks


def test_the_labeler_never_loads_scikit_learn_itself():
    """Start-up and the model view stay free of scikit-learn: it loads in the live head's
    process only."""
    from tests.helpers.imports import imported_after

    for module in ("tui_label.assist.model_view", "tui_label.tui.app",
                   "tui_label.tui.screens.label"):
        loaded = imported_after(module)
        assert "sklearn" not in loaded and "cleanlab" not in loaded, module

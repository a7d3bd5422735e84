"""The session with a model, without Textual: accept, confirm, reorder, model orders."""

from __future__ import annotations

import pytest

from tests.helpers.fake_model import save_run
from tui_label.assist.model_view import ModelView, run_predictions_dir
from tui_label.core.orders import OrderChoice
from tui_label.core.types import ImageState
from tui_label.labeling.session import LabelSession
from tui_label.store import Store


def cid(store: Store, name: str) -> int:
    return next(c.id for c in store.classes() if c.name == name)


def ids(store: Store) -> dict[str, int]:
    return {r[1]: r[0] for r in store.queue_rows()}


def events(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT image_id, action, class_id, source, probability, run_id FROM label_events "
        "ORDER BY id")]


# img000 .. img011; the model is unsure about img005 (the least confident) and img002.
PROBS = {f"img{i:03d}.png": [0.8, 0.15, 0.05] for i in range(12)}
PROBS["img005.png"] = [0.4, 0.35, 0.25]
PROBS["img002.png"] = [0.5, 0.3, 0.2]


@pytest.fixture
def run(store: Store) -> int:
    return save_run(store, PROBS)


def with_model(store: Store, order: OrderChoice | None = None) -> LabelSession:
    session = LabelSession(store, order)
    session.load()
    session.set_model(ModelView.load(store))
    return session


def test_accept_labels_with_the_top_suggestion_as_a_suggestion(store: Store, run: int):
    session = with_model(store)
    first = session.current
    change = session.accept(ms_on_screen=300)
    assert change.moved and session.pos == 1
    assert events(store) == [(first.id, "label", cid(store, "cat"), "suggestion",
                              pytest.approx(0.8), run)]
    assert session.counts.labeled == 1 and session.labels_made == 1


def test_accept_without_a_model_or_a_prediction_is_a_notice(store: Store):
    session = LabelSession(store)
    session.load()
    assert session.accept().notice == "No suggestion to accept for this image."
    save_run(store, {"img001.png": [0.1, 0.8, 0.1]})  # img000 has no prediction
    session.set_model(ModelView.load(store))
    assert session.accept().notice == "No suggestion to accept for this image."
    assert events(store) == [] and session.pos == 0


def test_suggestions_are_looked_up_once(store: Store, run: int, monkeypatch):
    session = with_model(store)
    calls = []
    real = type(session.model).suggestions
    monkeypatch.setattr(type(session.model), "suggestions",
                        lambda self, i, k=3: calls.append(i) or real(self, i, k))
    session.prefetch_suggestions(session.ahead(2))
    session.move(1)
    session.suggestions(session.current.id)
    session.accept()
    assert calls == [session.queue[1].id, session.queue[2].id]  # prefetched, then cached


def test_model_order_names_its_run_and_ranks_by_uncertainty(store: Store, run: int):
    session = with_model(store)
    assert session.set_order(OrderChoice("least-confident")).moved
    assert [it.path for it in session.queue[:2]] == ["img005.png", "img002.png"]
    assert session.describe_order() == f"Least confident first · run {run}"


def test_model_order_without_a_model_is_a_notice_not_a_crash(store: Store):
    session = LabelSession(store)
    session.load()
    before = list(session.queue)
    change = session.set_order(OrderChoice("margin"))
    assert "needs a model" in change.notice and not change.moved
    assert session.order == OrderChoice() and session.queue == before


def test_start_in_a_model_order_loads_the_model(store: Store, run: int):
    session = LabelSession(store, OrderChoice("least-confident"))
    assert session.load().notice is None
    assert session.model is not None and session.current.path == "img005.png"


def test_start_in_a_model_order_with_damaged_predictions_falls_back(store: Store, run: int):
    (run_predictions_dir(store.path, run) / "ids.npy").write_bytes(b"broken")
    session = LabelSession(store, OrderChoice("least-confident"))
    change = session.load()
    assert f"predictions of run {run} are damaged" in change.notice
    assert session.order == OrderChoice() and session.model is None
    assert session.current.path == "img000.png"


def test_reorder_keeps_the_image_on_screen_and_never_brings_back_labeled_ones(store: Store):
    save_run(store, {p: [0.8, 0.15, 0.05] for p in PROBS})  # all equally sure: path order
    session = with_model(store, OrderChoice("least-confident"))
    assert session.current.path == "img000.png"
    session.label(cid(store, "dog"))  # img000
    session.skip()  # img001
    session.move(1)  # img002 passed without a label
    assert session.current.path == "img003.png"
    # New predictions: img000, img001 and img003 now look the most uncertain.
    probs = {p: [0.8, 0.15, 0.05] for p in PROBS}
    for path in ("img000.png", "img001.png", "img003.png", "img009.png"):
        probs[path] = [0.34, 0.33, 0.33]
    run2 = save_run(store, probs)
    change = session.reorder(ModelView.load(store))
    assert not change.moved and session.current.path == "img003.png"
    paths = [it.path for it in session.queue]
    assert paths[:4] == ["img000.png", "img001.png", "img002.png", "img003.png"]  # behind
    assert paths[4] == "img009.png"  # the newly uncertain one comes next
    assert len(paths) == len(set(paths))
    assert paths.count("img000.png") == 1 and paths.count("img001.png") == 1
    assert session.describe_order().endswith(f"run {run2}")


def test_reorder_of_a_file_order_changes_nothing_but_the_model(store: Store, run: int):
    session = LabelSession(store)
    session.load()
    before = list(session.queue)
    session.label(cid(store, "cat"))
    assert session.reorder(ModelView.load(store)) == session.reorder(ModelView.load(store))
    assert session.queue == before and session.pos == 1 and session.model is not None


def test_confirm_and_relabel_in_the_suspect_queue(store: Store):
    i = ids(store)
    cat, dog = cid(store, "cat"), cid(store, "dog")
    store.label(i["img000.png"], cat)
    store.label(i["img001.png"], dog)
    store.label(i["img002.png"], dog)
    run = save_run(store, PROBS, suspects=[("img001.png", "dog", "cat", 0.8, 0.15),
                                           ("img002.png", "dog", "cat", 0.5, 0.3)])
    session = LabelSession(store, OrderChoice("suspects"))
    session.load()
    assert [it.path for it in session.queue] == ["img001.png", "img002.png"]
    assert session.suspect(i["img001.png"])["predicted_class"] == cat
    counts = session.counts.per_class.copy()
    assert session.confirm().moved  # img001 stays a dog, reviewed
    session.label(cat)  # img002 relabeled
    assert events(store)[-2:] == [(i["img001.png"], "label", dog, "review", None, run),
                                  (i["img002.png"], "label", cat, None, None, None)]
    assert session.counts.per_class == {cat: counts[cat] + 1, dog: counts[dog] - 1}
    assert session.model.suspects == () and store.suspects(run) == []
    assert session.labels_made == 1  # the confirmation is not a new label
    # Open the queue again: nothing left in it.
    session.set_order(OrderChoice("suspects"))
    assert session.queue == []
    assert session.confirm().notice == "Nothing to confirm here."


def test_confirm_outside_the_suspect_queue_or_on_an_unlabeled_image(store: Store, run: int):
    session = with_model(store)
    assert session.confirm().notice.startswith("= confirms a label in the suspect queue")
    store.label(ids(store)["img003.png"], cid(store, "cat"))
    session = with_model(store, OrderChoice("suspects"))
    assert session.queue == []
    assert events(store)[-1][3] is None


def test_newer_labels_count_from_the_model_or_the_live_head(store: Store, run: int):
    store.label(ids(store)["img011.png"], cid(store, "cat"))  # after the predictions
    session = with_model(store)
    assert session.newer_labels == 1
    session.label(cid(store, "dog"))
    assert session.newer_labels == 2
    mark = session.labels_made
    session.label(cid(store, "dog"))
    session.set_model(session.model, labels_at=mark)  # a live head fit at ``mark``
    assert session.newer_labels == 1
    assert store.current(ids(store)["img001.png"]) == ImageState.of("label", cid(store, "dog"))


def test_labels_of_this_session_are_reviewed_when_the_run_doubts_them(store: Store):
    """Label, train, review: the suspects and a confusion cell hold the labels given in
    this very session (they were always empty here: every model order left them out)."""
    i = ids(store)
    cat, dog = cid(store, "cat"), cid(store, "dog")
    session = LabelSession(store)
    session.load()
    session.label(cat)  # img000
    session.label(dog)  # img001: the run will doubt it
    session.label(dog)  # img002
    run = save_run(store, PROBS, suspects=[("img001.png", "dog", "cat", 0.8, 0.15)],
                   oof={"img000.png": [0.8, 0.15, 0.05], "img001.png": [0.8, 0.15, 0.05],
                        "img002.png": [0.1, 0.8, 0.1]})
    model = ModelView.load(store)
    ranked = LabelSession(store, OrderChoice("suspects"))  # as the background ranks it
    ranked.load()
    ranked.set_model(model)
    session.set_model(model)
    session.set_order(OrderChoice("suspects"), ranked=ranked._build_queue(
        OrderChoice("suspects")))
    assert [it.path for it in session.queue] == ["img001.png"]
    assert session.suspect(i["img001.png"])["predicted_class"] == cat
    # A new model (the same run again) keeps it in the review...
    session.reorder(ModelView.load(store))
    assert [it.path for it in session.queue] == ["img001.png"]
    # ... and the confusion cell "labeled dog, predicted cat" holds it too.
    cell = OrderChoice("confusion", dog, cat)
    session.set_order(cell, ranked=ranked._build_queue(cell))
    assert [it.path for it in session.queue] == ["img001.png"]
    assert run == session.model.run_id


def test_a_confirmed_label_is_no_suspect_of_later_predictions(store: Store):
    i = ids(store)
    dog = cid(store, "dog")
    store.label(i["img001.png"], dog)
    doubted = [("img001.png", "dog", "cat", 0.8, 0.15)]
    save_run(store, PROBS, suspects=doubted)
    session = with_model(store, OrderChoice("suspects"))
    assert session.confirm().moved
    again = save_run(store, PROBS, suspects=doubted)  # predicted after the confirmation
    assert store.suspects(again) == []
    assert store.suspects(again, open_only=False)[0]["image_id"] == i["img001.png"]
    store.label(i["img001.png"], cid(store, "cat"))  # changed since: a new label to doubt
    third = save_run(store, PROBS, suspects=[("img001.png", "cat", "dog", 0.8, 0.15)])
    assert [r["image_id"] for r in store.suspects(third)] == [i["img001.png"]]

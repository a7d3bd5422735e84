"""When the suggestions say they are out of date (issue 17.8): only once the labels written
since the model exceed ``STALE_SHARE`` (20%) of the labels it learnt from, and how many. No
textual: the rule is the model view's."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.fake_model import save_run
from tui_label.assist.model_view import STALE_SHARE, LiveProbs, ModelView, stale
from tui_label.store import Store


def label_some(store: Store, n: int) -> None:
    cat = next(c.id for c in store.classes() if c.name == "cat")
    for row in store.queue_rows()[:n]:
        store.label(row[0], cat)


@pytest.mark.parametrize(("newer", "model_labels", "shown"), [
    (0, 100, False), (1, 100, False), (20, 100, False), (21, 100, True), (250, 100, True),
    (1, 4, True), (0, 0, False), (1, 0, True),  # 0: the run recorded no counts
])
def test_stale_past_a_fifth_of_the_models_labels(newer: int, model_labels: int, shown: bool):
    assert STALE_SHARE == 0.2
    assert stale(newer, model_labels) is shown


def test_a_few_labels_since_a_run_say_nothing_more_say_how_many(store: Store):
    run = save_run(store, {"img000.png": [0.1, 0.7, 0.2]})
    store.update_run(run, num_train=8, num_val=2)  # it learnt from 10 labels
    label_some(store, 1)
    model = ModelView.load(store)
    assert model.labels_before == 1
    assert model.warnings(model.labels_before) == []  # was "older than the latest labels"
    assert model.warnings(2) == []
    assert model.warnings(3) == [f"3 labels newer than run {run}"]


def test_the_live_head_counts_from_its_own_fit(store: Store):
    run = save_run(store, {"img000.png": [0.1, 0.7, 0.2]})
    store.update_run(run, num_train=4, num_val=1)
    live = LiveProbs(np.zeros(0, np.int64), np.zeros((0, 2), np.float32), [1, 2], labels=40)
    model = ModelView.load(store).with_live(live)
    assert model.warnings(8) == []  # 20% of the 40 it was fit on: not more
    assert model.warnings(9) == ["9 labels newer than the live head"]

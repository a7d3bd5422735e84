"""The duplicates order: the unlabeled images of each group of near copies by the run's
embeddings, one group after another, the group with the most to label first; labeled
images and images without a copy are not in it. The picker offers it once a run exists, and
``--order duplicates`` names it."""

from __future__ import annotations

import pytest

from tests.helpers.fake_model import save_run
from tui_label.assist.model_view import ModelView
from tui_label.core import orders
from tui_label.core.orders import OrderChoice
from tui_label.errors import UsageError
from tui_label.labeling import jobs
from tui_label.store import Store


def direction(k: int, n: int) -> list[float]:
    return [float(j == k) for j in range(n)]


def test_groups_come_consecutively_the_largest_first(store: Store):
    paths = sorted(store.image_ids())  # 12 images
    n = len(paths)
    emb = {p: direction(k, n) for k, p in enumerate(paths)}  # each its own way...
    pair, triple = [paths[1], paths[9]], [paths[2], paths[5], paths[11]]
    for p in pair:
        emb[p] = direction(n - 1, n)  # ...but these two alike (paths[11]'s own is free)
    for p in triple:
        emb[p] = [0.0, 1.0, 0.02] + [0.0] * (n - 3)  # and these three (cosine 0.9998)
    emb[paths[3]] = [0.0, 1.0, 0.0] + [0.0] * (n - 3)  # a fourth of the three, labeled
    store.label(store.image_ids()[paths[3]], store.classes()[0].id)
    save_run(store, {p: [0.4, 0.3, 0.3] for p in paths}, embeddings=emb)
    model = ModelView.load(store)
    assert model is not None
    queue = jobs.rank(store.path, OrderChoice("duplicates"), model)
    assert [it.path for it in queue] == triple + pair  # three to label, then two
    choice = OrderChoice("duplicates")
    assert choice.size(store.rows_for("all"), model) == 5
    assert orders.parse("duplicates", store.classes()) == choice
    assert choice in orders.choices(store.classes(), has_model=True)
    assert choice not in orders.choices(store.classes(), has_model=False)


def test_a_run_without_copies_or_without_embeddings_gives_an_empty_order(store: Store):
    paths = sorted(store.image_ids())
    save_run(store, {p: [0.4, 0.3, 0.3] for p in paths})  # no embeddings
    model = ModelView.load(store)
    assert model is not None and model.duplicate_groups() == []
    assert OrderChoice("duplicates").rank(store.rows_for("all"), model) == []
    with pytest.raises(UsageError, match="needs a model"):
        OrderChoice("duplicates").rank(store.rows_for("all"), None)

"""The labeling screen's status lines from a session alone: no app, no pilot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.data import make_images
from tests.helpers.fake_model import save_run
from tui_label.assist.model_view import ModelView
from tui_label.config.settings import ClassSpec
from tui_label.core.orders import OrderChoice
from tui_label.labeling.session import LabelSession
from tui_label.media.scan import scan
from tui_label.store import Store
from tui_label.tui.presenters import confusion_notice, status_for


@pytest.fixture
def db(tmp_path: Path) -> Store:
    root = tmp_path / "data"
    make_images(root, 4)
    store = Store(tmp_path / "labels.db", annotator="tester")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2"), ClassSpec("bird", "3")])
    store.sync_images(scan(root))
    yield store
    store.close()


def cid(store: Store, name: str) -> int:
    return next(c.id for c in store.classes() if c.name == name)


def session_on(store: Store, order: OrderChoice | None = None) -> LabelSession:
    session = LabelSession(store, order)
    session.load()
    return session


def test_status_of_an_unlabeled_then_a_labeled_image(db: Store):
    session = session_on(db, OrderChoice("all"))
    view = status_for(session, suggestions_shown=True)
    assert (view.info.position, view.info.queue_length) == (1, 4)
    assert view.info.path == "img000.png" and view.info.counts.labeled == 0
    assert view.marked == frozenset() and view.suggestion is None  # no model: no line
    session.label(cid(db, "dog"))
    session.move(-1)
    view = status_for(session, suggestions_shown=True)
    assert view.info.path == "img000.png" and "dog" in view.info.label
    assert view.info.counts.labeled == 1
    assert view.marked == {cid(db, "dog")}


def test_suggestions_follow_the_model_and_the_toggle(db: Store):
    run = save_run(db, {f"img{k:03d}.png": [0.8, 0.15, 0.05] for k in range(4)})
    session = session_on(db)
    session.set_model(ModelView.load(db))
    text = str(status_for(session, suggestions_shown=True).suggestion)
    assert "cat 80%" in text and "dog 15%" in text and f"run {run}" in text
    assert status_for(session, suggestions_shown=False).suggestion is None
    session.pos = len(session.queue)  # the end of the queue: the line names the model
    view = status_for(session, suggestions_shown=True)
    assert str(view.suggestion) == f"model: run {run}"
    assert view.info.path == "" and view.marked == frozenset()


def test_the_suspect_queue_shows_the_given_label_beside_the_models(db: Store):
    ids = {r[1]: r[0] for r in db.queue_rows()}
    db.label(ids["img001.png"], cid(db, "cat"))
    save_run(db, {f"img{k:03d}.png": [0.1, 0.85, 0.05] for k in range(4)},
             suspects=[("img001.png", "cat", "dog", 0.85, 0.1)])
    session = session_on(db, OrderChoice("suspects"))
    session.set_model(ModelView.load(db))
    text = str(status_for(session, suggestions_shown=True).suggestion)
    assert "given cat · model says dog 85%" in text


def test_a_confusion_queue_says_what_it_holds(db: Store):
    session = session_on(db)
    assert confusion_notice(session) is None
    session.order = OrderChoice("confusion", cid(db, "cat"), cid(db, "dog"))
    session.queue = session.queue[:1]
    assert confusion_notice(session) == (
        "cat → dog: 1 labeled image by the out-of-sample predictions, else the model's")

"""SessionModel: the session's model, its cached suggestions, and the labels newer than it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tui_label.core.types import QueueItem
from tui_label.labeling import model as session_model
from tui_label.labeling.model import SessionModel


@dataclass(frozen=True)
class FakeView:
    """The part of a ``ModelView`` the session model reads."""

    labels_before: int = 0
    suspects: tuple[int, ...] = ()
    asked: list[int] = field(default_factory=list)

    def suggestions(self, image_id: int) -> list[tuple[int, float]]:
        self.asked.append(image_id)
        return [(1, 0.9)] if image_id % 2 else []

    def resolved(self, image_id: int) -> FakeView:
        return replace(self, suspects=tuple(i for i in self.suspects if i != image_id))


def test_no_model_no_suggestions():
    m = SessionModel()
    assert m.view is None and m.suggestions(1) == [] and m.newer_labels == 0


def test_suggestions_are_looked_up_once_and_dropped_with_the_model(monkeypatch):
    monkeypatch.setattr(session_model, "SUGGESTION_CACHE", 2)
    view = FakeView()
    m = SessionModel()
    m.take(view)  # type: ignore[arg-type]
    m.prefetch([QueueItem(1, "a.png"), QueueItem(2, "b.png")])
    assert m.suggestions(1) == [(1, 0.9)] and m.suggestions(2) == []
    assert view.asked == [1, 2]
    m.suggestions(3)  # the cache is full: it starts again
    m.suggestions(1)
    assert view.asked == [1, 2, 3, 1]
    m.take(view)  # type: ignore[arg-type]
    m.suggestions(3)
    assert view.asked[-1] == 3


def test_newer_labels_count_from_the_model_or_the_live_fit():
    m = SessionModel()
    m.take(FakeView(labels_before=5))  # type: ignore[arg-type]
    m.labeled(10, new=True)
    m.labeled(11, new=False)  # a review: no new label
    assert m.labels_made == 1 and m.newer_labels == 6
    m.take(FakeView(), labels_at=1)  # type: ignore[arg-type]  # a live fit on every label
    assert m.newer_labels == 0
    m.labeled(12, new=True)
    assert m.newer_labels == 1


def test_a_labeled_image_is_no_suspect_any_more():
    m = SessionModel()
    m.take(FakeView(suspects=(3, 4)))  # type: ignore[arg-type]
    m.labeled(3, new=True)
    assert m.view is not None and m.view.suspects == (4,)

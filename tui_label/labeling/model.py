"""The model a labeling session works with: what the model orders rank by, its suggestions
(looked up once per image, when prefetched), and how many labels are newer than it.

No textual, no numpy of its own: the ``ModelView`` answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tui_label.core.types import QueueItem

if TYPE_CHECKING:
    from tui_label.assist.model_view import ModelView

SUGGESTION_CACHE = 4096  # images whose suggestions are kept


class SessionModel:
    """The session's model (None: none yet) and the labels written since it."""

    def __init__(self) -> None:
        self.view: ModelView | None = None
        self.labels_made = 0  # labels this session wrote (typed or accepted, not confirmed)
        self._base = 0  # labels newer than the model when it was taken ...
        self._mark = 0  # ... and ``labels_made`` then
        self._suggested: dict[int, list[tuple[int, float]]] = {}

    def take(self, model: ModelView | None, *, labels_at: int | None = None) -> None:
        """Take a (new) model. ``labels_at`` is ``labels_made`` when its labels were read (a
        live head fit on every label then is newer than none of them)."""
        self.view = model
        self._suggested.clear()
        if labels_at is None:
            self._base, self._mark = (model.labels_before if model else 0, self.labels_made)
        else:
            self._base, self._mark = 0, labels_at

    @property
    def newer_labels(self) -> int:
        """Labels written since the model's predictions (or the live head's fit)."""
        return self._base + self.labels_made - self._mark

    def labeled(self, image_id: int, *, new: bool) -> None:
        """The session labeled an image (``new``: a label of its own, not a review): it is no
        suspect any more (relabeled or confirmed)."""
        if new:
            self.labels_made += 1
        if self.view is not None:
            self.view = self.view.resolved(image_id)

    def suggestions(self, image_id: int) -> list[tuple[int, float]]:
        """The model's top classes for an image (empty without a model or a prediction)."""
        if self.view is None:
            return []
        got = self._suggested.get(image_id)
        if got is None:
            if len(self._suggested) >= SUGGESTION_CACHE:
                self._suggested.clear()
            got = self._suggested[image_id] = self.view.suggestions(image_id)
        return got

    def prefetch(self, items: Iterable[QueueItem]) -> None:
        """Look the suggestions of the images ahead up now, not when their key comes."""
        for item in items:
            self.suggestions(item.id)

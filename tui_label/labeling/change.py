"""What one call of a labeling session did, for the screen to draw."""

from __future__ import annotations

from dataclasses import dataclass

from tui_label.core.types import ImageState


@dataclass(frozen=True)
class Change:
    """What one session call did."""

    moved: bool = False  # the current image is another one now (or the queue changed)
    image_id: int | None = None  # the image whose state changed
    before: ImageState | None = None
    after: ImageState | None = None
    notice: str | None = None  # something to tell the user (nothing changed when set)

"""The duplicates of one image, for labeling them together (``D`` in the labeler), headless.

With a run that stored embeddings, its group of near copies by the embeddings (the model has
seen every image: ``ModelView.duplicate_groups``, computed once); before any run, its exact
copies (same bytes) and near copies (difference hash within ``MAX_BITS``) among every
readable image of the project (``media.fingerprint``). Fingerprinting reads every file once:
the first look of a session does it (on a worker thread), and ``Fingerprints`` keeps them for
the next ones (by image id and path: an image whose path changed is read again).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from tui_label.store import Store

if TYPE_CHECKING:
    from tui_label.assist.model_view import ModelView
    from tui_label.media.fingerprint import Fingerprint


class Fingerprints:
    """The fingerprints of a project's images, made when first asked for, then kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one pass over the files at a time
        self._known: dict[tuple[int, str], Fingerprint] = {}

    def of(self, root: Path, images: list[tuple[int, str]]) -> list[Fingerprint]:
        """The fingerprints of ``images`` (``(image id, path)``), reading only files not
        fingerprinted before."""
        from tui_label.media.fingerprint import fingerprints  # heavy: Pillow

        with self._lock:
            missing = [(i, p) for i, p in images if (i, p) not in self._known]
            made = fingerprints([(i, root / p) for i, p in missing])
            self._known.update({key: fp for key, fp in zip(missing, made, strict=True)})
            return [self._known[(i, p)] for i, p in images]


def duplicate_group(store: Store, root: Path, image_id: int, model: ModelView | None,
                    prints: Fingerprints) -> tuple[list[int], str]:
    """The images in ``image_id``'s group of duplicates, itself included (just itself: none),
    and how they were found (``by the model's embeddings`` or ``exact or near copies``)."""
    if model is not None and model.predictions.embeddings is not None:
        group = next((g for g in model.duplicate_groups() if image_id in g), (image_id,))
        return sorted(group, key=lambda i: (i != image_id, i)), "by the model's embeddings"
    from tui_label.assist.duplicates import exact_groups, near_groups  # heavy: numpy

    found = prints.of(root, store.readable_images())
    members = {image_id}
    for copies in exact_groups(found) + near_groups(found):
        if image_id in copies.image_ids:
            members.update(copies.image_ids)
    return sorted(members, key=lambda i: (i != image_id, i)), "exact or near copies"

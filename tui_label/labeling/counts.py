"""The counts a labeling session shows, kept live.

Counts are read in the background (every labeler's work, through some event) while this
session writes its own labels in between: ``LiveCounts`` adds the session's changes written
after a read on top of it, so fast keys never make the counts go stale or jump back.

No textual, no SQL: the session hands in what it read and what it changed.
"""

from __future__ import annotations

from dataclasses import replace

from tui_label.core.types import Counts, ImageState


class LiveCounts:
    """Counts read through event ``through``, plus this session's changes since.

    Args:
        counts: The counts read at start-up (none yet: all zero).
        through: The newest event they include.
    """

    def __init__(self, counts: Counts | None = None, through: int = 0) -> None:
        self.counts = counts if counts is not None else Counts()
        self.through = through
        # This session's changes, (event id, before, after): added to counts read before them.
        self._deltas: list[tuple[int, ImageState, ImageState]] = []

    def reset(self, counts: Counts, through: int) -> None:
        """Take counts read now, as they are (at start-up)."""
        self.counts, self.through = counts, through

    def take(self, counts: Counts, through: int) -> bool:
        """Counts read in the background through event ``through``: this session's own
        changes written after it are added on top. Counts older than the ones taken last are
        dropped (False)."""
        if through < self.through:
            return False
        self._deltas = [d for d in self._deltas if d[0] > through]
        counts = replace(counts, per_class=dict(counts.per_class))  # the caller's stays as read
        for _event, before, after in self._deltas:
            shift(counts, before, after)
        self.counts = counts
        self.through = through
        return True

    def change(self, before: ImageState, after: ImageState, event_id: int) -> None:
        """One image's change of state, written by this session as event ``event_id``."""
        self._deltas.append((event_id, before, after))
        shift(self.counts, before, after)


def shift(counts: Counts, before: ImageState, after: ImageState) -> None:
    """Move one image's state in ``counts`` from ``before`` to ``after`` (in place)."""
    for state, sign in ((before, -1), (after, 1)):
        if state.skipped:
            counts.skipped += sign
        elif state.labeled:
            counts.labeled += sign
            for class_id in state.classes:
                n = counts.per_class.get(class_id, 0) + sign
                if n:
                    counts.per_class[class_id] = n
                else:
                    counts.per_class.pop(class_id, None)

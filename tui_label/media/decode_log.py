"""What decoding found out about images (their size, or why they cannot be read), kept until
it is stored in one write.

The labeler decodes images as it shows and prefetches them; each image's outcome is noted
once, and ``flush`` hands the pending ones to a writer (the store) now and then. A failed write
keeps them for the next try. No SQL here: the writer is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

# (image id, width, height, error): what ``Store.record_decodes`` takes.
DecodeRow = tuple[int, int | None, int | None, str | None]


class DecodeLog:
    """Decode outcomes not stored yet, each image's noted once (until ``forget``)."""

    def __init__(self) -> None:
        self._pending: dict[int, DecodeRow] = {}
        self._noted: set[int] = set()

    def note(self, image_id: int, width: int | None, height: int | None,
             error: str | None) -> None:
        """Remember what decoding found out about an image (the first time only)."""
        if image_id not in self._noted:
            self._noted.add(image_id)
            self._pending[image_id] = (image_id, width, height, error)

    def forget(self, image_ids: Iterable[int]) -> None:
        """These images changed on disk: their next decode is noted again."""
        self._noted.difference_update(image_ids)

    def flush(self, write: Callable[[list[DecodeRow]], object]) -> None:
        """Hand what is pending to ``write``; when it raises, everything stays pending."""
        if not self._pending:
            return
        rows = list(self._pending.values())
        write(rows)
        for row in rows:
            self._pending.pop(row[0], None)

    def __len__(self) -> int:
        return len(self._pending)

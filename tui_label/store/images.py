"""The images table: what a scan found, what decoding found, and which images can be read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tui_label.core.types import SyncResult
from tui_label.media.scan import ScannedFile
from tui_label.store.base import StoreBase


class ImagesMixin(StoreBase):
    def sync_images(self, files: Iterable[ScannedFile]) -> SyncResult:
        """Bring the images table in line with a scan: add new files, reset changed ones,
        mark vanished ones missing (their labels stay) and bring back returning ones."""
        scanned = list(files)  # walk the disk before taking the write lock
        with self._write():
            existing = {
                row[0]: row[1:]
                for row in self.conn.execute("SELECT path, id, size, mtime, status FROM images")
            }
            new, changed, returned = [], [], []
            for f in scanned:
                old = existing.pop(f.path, None)
                if old is None:
                    new.append((f.path, f.size, f.mtime))
                elif old[1] != f.size or old[2] != f.mtime:
                    changed.append((f.size, f.mtime, old[0]))
                elif old[3] == "missing":
                    returned.append((old[0],))
            gone = [(row[0],) for row in existing.values() if row[3] != "missing"]
            self.conn.executemany(
                "INSERT INTO images (path, size, mtime) VALUES (?, ?, ?)", new
            )
            self.conn.executemany(
                "UPDATE images SET size = ?, mtime = ?, status = 'unknown', reason = NULL, "
                "width = NULL, height = NULL WHERE id = ?",
                changed,
            )
            self.conn.executemany("UPDATE images SET status = 'unknown' WHERE id = ?", returned)
            self.conn.executemany("UPDATE images SET status = 'missing' WHERE id = ?", gone)
        return SyncResult(len(new), len(changed), len(gone), len(returned), len(scanned),
                          frozenset(row[2] for row in changed))

    def image_count(self) -> int:
        sql = "SELECT COUNT(*) FROM images WHERE status != 'missing'"
        return self.conn.execute(sql).fetchone()[0]

    def image(self, image_id: int) -> dict:
        """The image's row, by column name. Raises ``KeyError`` for an unknown id."""
        cur = self.conn.execute("SELECT * FROM images WHERE id = ?", (image_id,))
        values = cur.fetchone()
        if values is None:
            raise KeyError(image_id)
        return dict(zip([d[0] for d in cur.description], values, strict=True))

    def image_ids(self) -> dict[str, int]:
        """Every image's id by its path, missing ones too."""
        return dict(self.conn.execute("SELECT path, id FROM images"))

    def image_status_counts(self) -> dict[str, int]:
        """How many images have each status (``ok``, ``unknown``, ``unreadable``, ``missing``)."""
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM images GROUP BY status"))

    def record_decodes(
        self, results: Sequence[tuple[int, int | None, int | None, str | None]]
    ) -> None:
        """Store what decoding found: ``(image_id, width, height, error)`` per image."""
        if not results:
            return
        with self._write():
            self.conn.executemany(
                "UPDATE images SET status = CASE WHEN :error IS NULL THEN 'ok' "
                "ELSE 'unreadable' END, width = :width, height = :height, reason = :error "
                "WHERE id = :id AND status != 'missing'",
                [{"id": i, "width": w, "height": h, "error": e} for i, w, h, e in results],
            )

    def readable_images(self, *, labeled_only: bool = False) -> list[tuple[int, str]]:
        """``(image id, path)`` of every image not known to be unreadable or missing (with
        ``labeled_only``, of those whose current state is a label), by id."""
        sql = "SELECT i.id, i.path FROM images i WHERE i.status IN ('unknown', 'ok') "
        if labeled_only:
            sql += ("AND EXISTS (SELECT 1 FROM latest_events e WHERE e.image_id = i.id "
                    "AND e.action = 'label') ")
        return self.conn.execute(sql + "ORDER BY i.id").fetchall()

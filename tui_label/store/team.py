"""A team on one database: leases on the images on each labeler's screen, the overlap share
meant for several annotators, and each annotator's own opinion of an image."""

from __future__ import annotations

import os
import time
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tui_label.core.hashing import in_overlap
from tui_label.core.procs import HOST, pid_alive
from tui_label.core.types import UNLABELED, ImageState
from tui_label.store.labels import LabelsMixin
from tui_label.store.sql import NOT_REVIEW, OWN_LATEST

MAX_CLAIM_SCAN = 2000  # a key never looks further ahead than this for a free image

_UPSERT_LEASE = (
    "INSERT INTO leases (image_id, annotator, host, pid, expires_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET "
    "annotator = excluded.annotator, host = excluded.host, pid = excluded.pid, "
    "expires_at = excluded.expires_at"
)


@dataclass
class ClaimRequest:
    """Which images to lease next (``Store.claim``): ``candidates`` are ``(id, path)`` in
    queue order; up to ``want`` of them are leased, skipping those leased by someone else and
    those someone else changed after event ``since`` (events in ``mine``, this session's own,
    never count). Images in the ``overlap`` share are never leased (meant for several
    annotators); ``release`` is an image whose lease goes (the one just labeled)."""

    candidates: Iterable[tuple[int, str]]
    want: int
    since: int = 0
    mine: Container[int] = frozenset()
    overlap: float = 0.0
    ttl: float = 30.0
    release: int | None = None


@dataclass(frozen=True)
class ClaimResult:
    claimed: list[int]  # in queue order: ours to show (leased, or in the overlap share)
    taken: list[int]  # someone else has them (leased, or changed since): leave them out
    scanned: int  # candidates looked at


class TeamMixin(LabelsMixin):
    @property
    def holder(self) -> tuple[str, str, int]:
        """Who this process's leases belong to: ``(annotator, host, pid)``. Anyone else is
        "someone else", two windows of one person included: they split the work too."""
        return (self.annotator, HOST, os.getpid())

    def _lease_is_others(self, image_id: int, now: float) -> bool:
        row = self.conn.execute("SELECT annotator, host, pid, expires_at FROM leases "
                                "WHERE image_id = ?", (image_id,)).fetchone()
        if row is None or tuple(row[:3]) == self.holder or row[3] <= now:
            return False
        return not (row[1] == HOST and not pid_alive(row[2]))  # a dead pid holds nothing

    def _changed_by_others(self, image_id: int, path: str, req: ClaimRequest) -> bool:
        """Someone else touched the image after ``req.since`` (outside the overlap share), or
        (in it) a review settled it, this annotator labeled it in another window, or two
        others have labeled it."""
        newer = [r for r in self.conn.execute(
            "SELECT id, annotator, source FROM label_events WHERE image_id = ? AND id > ?",
            (image_id, req.since)) if r[0] not in req.mine]
        if not newer:
            return False
        if not in_overlap(path, req.overlap):
            return True
        if any(source == "review" or annotator == self.annotator
               for _, annotator, source in newer):
            return True
        others = self.conn.execute(
            "SELECT COUNT(*) FROM label_events e "
            f"JOIN ({OWN_LATEST.format(where='AND image_id = ? AND annotator != ?')}) l "
            "ON e.id = l.id WHERE e.action = 'label'", (image_id, self.annotator)).fetchone()[0]
        return others >= 2

    def _claim(self, req: ClaimRequest) -> ClaimResult:
        now = time.time()
        annotator, host, pid = self.holder
        if req.release is not None:
            self.conn.execute("DELETE FROM leases WHERE image_id = ? AND annotator = ? AND "
                              "host = ? AND pid = ?", (req.release, annotator, host, pid))
        claimed: list[int] = []
        taken: list[int] = []
        scanned = 0
        for image_id, path in req.candidates:
            if len(claimed) >= req.want or scanned >= MAX_CLAIM_SCAN:
                break
            scanned += 1
            shared = in_overlap(path, req.overlap)
            if (not shared and self._lease_is_others(image_id, now)) or \
                    self._changed_by_others(image_id, path, req):
                taken.append(image_id)
                continue
            if not shared:
                self.conn.execute(_UPSERT_LEASE, (image_id, annotator, host, pid, now + req.ttl))
            claimed.append(image_id)
        return ClaimResult(claimed, taken, scanned)

    def claim(self, req: ClaimRequest) -> ClaimResult:
        """Lease the next free images of ``req.candidates`` to this process (one write)."""
        with self._write():
            return self._claim(req)

    def add_event_and_claim(self, image_id: int, action: str, class_id: int | None = None, *,
                            claim: ClaimRequest, **event: Any) -> tuple[int, ClaimResult]:
        """``add_event`` and ``claim`` in one transaction: a key's label and the lease of the
        images it moves on to commit together (one write, as before leases)."""
        with self._write():
            event_id = self._insert_event(image_id, action, class_id, **event)
            return event_id, self._claim(claim)

    def renew_leases(self, image_ids: Sequence[int], ttl: float) -> list[int]:
        """Keep this process's leases on ``image_ids`` (those still free to it) for ``ttl``
        seconds more, and let go of its others. Returns the ids it holds now."""
        now = time.time()
        annotator, host, pid = self.holder
        held = []
        with self._write():
            mine = [r[0] for r in self.conn.execute(
                "SELECT image_id FROM leases WHERE annotator = ? AND host = ? AND pid = ?",
                (annotator, host, pid))]
            keep = set(image_ids)
            self.conn.executemany("DELETE FROM leases WHERE image_id = ?",
                                  [(i,) for i in mine if i not in keep])
            for image_id in image_ids:
                if self._lease_is_others(image_id, now):
                    continue
                self.conn.execute(_UPSERT_LEASE, (image_id, annotator, host, pid, now + ttl))
                held.append(image_id)
        return held

    def release_leases(self) -> int:
        """Let go of every lease of this process (leaving the labeler). Returns how many."""
        with self._write():
            return self.conn.execute(
                "DELETE FROM leases WHERE annotator = ? AND host = ? AND pid = ?",
                self.holder).rowcount

    def leases(self) -> list[dict]:
        """Every lease row (expired ones too), by image id."""
        return list(self.db.query("SELECT * FROM leases ORDER BY image_id"))

    def own_state(self, image_id: int) -> ImageState:
        """The image as this annotator left it (their own latest event, undo events and the
        events they undid left out), or as a review settled it when that is newer: what an
        image of the overlap share shows, never another annotator's label."""
        row = self.conn.execute(
            "SELECT action, class_id, classes FROM label_events WHERE image_id = ? "
            "AND (annotator = ? OR source = 'review') AND undo_of IS NULL AND id NOT IN "
            "(SELECT undo_of FROM label_events WHERE image_id = ? AND undo_of IS NOT NULL) "
            "ORDER BY id DESC LIMIT 1", (image_id, self.annotator, image_id)).fetchone()
        return ImageState.of(*row) if row else UNLABELED

    def opinions(self, image_id: int) -> list[tuple[str, frozenset[int]]]:
        """Each annotator's own latest label of an image (reviews left out), by annotator:
        ``(annotator, class ids)`` (one id in single-label mode)."""
        rows = self.conn.execute(
            "SELECT e.annotator, e.action, e.class_id, e.classes FROM label_events e "
            f"JOIN ({OWN_LATEST.format(where=NOT_REVIEW + ' AND image_id = ?')}) l "
            "ON e.id = l.id WHERE e.action = 'label' ORDER BY e.annotator",
            (image_id,)).fetchall()
        return [(who, ImageState.of(*state).classes) for who, *state in rows]

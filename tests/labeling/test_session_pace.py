"""Issue 17.7: the pace of a scripted session with known key times, as the status line shows
it and as ``tui-label stats`` reports it: the same rule (``core/pace.py``), the same figure.

A typist labels 100 images 0.6 s apart (100 a minute), watches a training run for 3 minutes,
labels 100 more, goes to lunch for 2 hours and labels 50 more: 250 labels in 247 gaps of 0.6 s
of work, about 100 a minute. Before, ``stats`` counted the 3 minutes as work (gaps up to 5
minutes were active: 46/min) and the status line divided by the time since the start (2/min).
"""

from __future__ import annotations

import json
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.data import make_images
from tui_label.config.settings import ClassSpec
from tui_label.labeling import session as session_module
from tui_label.labeling.session import LabelSession
from tui_label.media.scan import scan
from tui_label.store import Store
from tui_label.store import labels as store_labels

EPOCH = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)


class Clock:
    """A clock the test moves: the session's monotonic time and the store's event times."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def iso(self) -> str:
        when = EPOCH + timedelta(seconds=self.now)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_status_line_and_stats_give_the_typists_pace(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    clock = Clock()
    monkeypatch.setattr(session_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(store_labels, "now_iso", clock.iso)
    make_images(tmp_path / "data", 250, size=(8, 8))
    db = tmp_path / "labels.db"
    store = Store(db, annotator="typist")
    store.set_classes([ClassSpec("cat", "1"), ClassSpec("dog", "2")])
    store.sync_images(scan(tmp_path / "data"))
    session = LabelSession(store)
    session.load()
    cat = session.classes[0].id
    for burst, pause in ((100, 180.0), (100, 2 * 3600.0), (50, 0.0)):
        for n in range(burst):
            if n:
                clock.now += 0.6
            session.label(cat)
        clock.now += pause
    status_pace = session.per_minute
    store.close()

    code, out, err = run_cli("stats", "--db", str(db), "--format", "json")
    assert code == 0, err
    (typist,) = json.loads(out)["annotators"]
    assert typist["labels"] == 250
    assert typist["active_seconds"] == pytest.approx(247 * 0.6)
    assert typist["labels_per_minute"] == pytest.approx(250 / (247 * 0.6 / 60))  # 101.2
    assert status_pace == pytest.approx(typist["labels_per_minute"])


def test_no_pace_on_the_status_line_before_half_a_minute_of_work(store: Store,
                                                                  monkeypatch):
    clock = Clock()
    monkeypatch.setattr(session_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    session = LabelSession(store)
    session.load()
    for _ in range(3):
        session.label(session.classes[0].id)
        clock.now += 5.0
    assert session.per_minute is None  # 10 s of work: no rate (not 18 a minute)

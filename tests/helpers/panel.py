"""Shared test helpers, formerly in tests/test_train_panel.py."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.data import make_images
from tui_label.config.settings import ClassSpec
from tui_label.media.scan import scan
from tui_label.runs.metrics import report
from tui_label.store import Store

DIGITS = [str(d) for d in range(10)]


def store_with_finished_run(tmp_path: Path, names: list[str], *, model: str = "small-cnn",
                            status: str = "finished", reason: str | None = None) -> Store:
    """A store with ``names`` as classes, a few images, and one run the trainer finished."""
    root = tmp_path / "data"
    make_images(root, 6)
    store = Store(tmp_path / "l.db", annotator="tester")
    store.set_classes([ClassSpec(n, k) for n, k in zip(names, "1234567890", strict=False)])
    store.sync_images(scan(root))
    store.set_setting("root", str(root))
    n = len(names)
    confusion = [[(3 if t == p else (1 if p == (t + 1) % n else 0)) for p in range(n)]
                 for t in range(n)]
    rep = report(confusion, names).to_dict()
    run_id = store.create_run(model, {"epochs": 2}, names)
    for epoch in (1, 2):
        store.add_epoch(run_id, epoch, train_loss=1.0 / epoch, val_loss=1.2 / epoch, report=rep,
                        seconds=1.0, images_per_sec=100.0)
    store.update_run(run_id, status=status, reason=reason, device="cpu", num_train=40,
                     num_val=10)
    return store


def add_epochs(store: Store, run_id: int, confusions: list[list[list[int]]], *,
               best_checkpoint: str | None = "best.pt") -> None:
    """Epochs 1, 2, ... of ``run_id``, each with the validation matrix given for it (today's
    offered classes), and the run's best checkpoint recorded."""
    names = [c.name for c in store.classes() if c.hotkey]
    for epoch, confusion in enumerate(confusions, 1):
        store.add_epoch(run_id, epoch, train_loss=1.0 / epoch, val_loss=1.1 / epoch,
                        report=report(confusion, names).to_dict(), seconds=1.0,
                        images_per_sec=10.0)
    store.update_run(run_id, best_checkpoint=best_checkpoint, num_val=sum(map(sum, confusion)))

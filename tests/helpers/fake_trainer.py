"""A stand-in for the trainer process (no torch): it waits until a gate file exists, stores a
finished run with predictions (``tests.helpers.fake_model.save_run``) and prints the events the real
trainer ends with. The labeler starts it as it would start ``python -m tui_label.trainer``.

Usage: ``python fake_trainer.py DB GATE PROBS_JSON`` (PROBS_JSON: ``{path: [p, ...]}``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers.fake_model import save_run  # noqa: E402
from tui_label.store import Store  # noqa: E402


def main(db: str, gate: str, probs_json: str) -> None:
    def event(kind: str, **fields) -> None:
        print(json.dumps({"event": kind, "time": time.time(), **fields}), flush=True)

    event("preparing", done=0, total=1)
    deadline = time.monotonic() + 60
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    store = Store(db, annotator="trainer")
    try:
        run_id = save_run(store, json.loads(probs_json))
    finally:
        store.close()
    event("predicted", run_id=run_id, images=0, oof=0, suspects=0, seconds=0.0,
          predictions="")
    event("finished", run_id=run_id, best_accuracy=1.0, best_checkpoint="none")


if __name__ == "__main__":
    main(*sys.argv[1:4])

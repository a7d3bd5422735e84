"""``tui-label predict`` and ``tui-label suspects``.

Imported by ``tui_label.cli.main`` (and so by the labeler): torch, numpy and scikit-learn
load only when a command runs.
"""

from __future__ import annotations

import sys

import click

from tui_label.cli.common import (
    db_option,
    device_option,
    dir_argument,
    events_option,
    existing_db,
    format_option,
    open_for_reading,
    run_option,
)
from tui_label.errors import UsageError

SUSPECT_FIELDS = ("path", "label", "predicted", "probability", "label_probability", "rank")


@click.command("predict")
@dir_argument
@db_option
@run_option()
@device_option("Where to predict.")
@click.option("--batch-size", type=int, default=64, show_default=True,
              help="Images per forward pass.")
@events_option()
def predict(folder, db, run_id, device, batch_size, events) -> None:
    """Predict every readable image with a finished run's model (its best checkpoint).

    Stores the top classes of each image, the embeddings and probabilities beside the run
    (<db>-runs/run-N/predictions/), out-of-sample probabilities of the labeled images (a
    cross-validated linear head on the embeddings) and the suspect labels they point at. A
    run ends with the same step; this command redoes it, e.g. after new images arrive.
    """
    db, root = existing_db(folder, db)
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    from tui_label.runs.emit import Emitter

    emitter = Emitter(events)
    from tui_label.trainer.predict import describe, predict_command  # imports torch

    outcome = predict_command(db, root, run_id, device, batch_size, emitter)
    if emitter.mode == "json":
        click.echo(describe(outcome), err=True)
    else:
        for note in outcome.notes:
            click.echo(f"notice: {note}", err=True)


@click.command("suspects")
@dir_argument
@db_option
@run_option("Which run's suspects (default: the latest predicted run).")
@click.option("--limit", type=int, default=None, help="At most this many, most doubtful first.")
@format_option(["csv", "jsonl"], "csv")
def suspects(folder, db, run_id, limit, fmt) -> None:
    """List the labels the model doubts, most doubtful first: path, label, the predicted
    class and its out-of-sample probability, the label's probability.

    Only open ones: an image relabeled or confirmed since the predictions is left out.
    CSV cells that would start a spreadsheet formula get a leading '.
    """
    from tui_label.dataio import export as exporter

    db, _ = existing_db(folder, db)
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    store = open_for_reading(db)
    try:
        run = _predicted_run(store, run_id)
        names = {c.id: c.name for c in store.classes()}
        rows = store.suspects(run["id"])[:limit]
        out = [{"path": r["path"], "label": names.get(r["given_class"], ""),
                "predicted": names.get(r["predicted_class"], ""),
                "probability": round(r["probability"], 4),
                "label_probability": round(r["given_probability"], 4), "rank": r["rank"]}
               for r in rows]
    finally:
        store.close()
    if fmt == "csv":
        exporter.write_csv(out, sys.stdout, fields=SUSPECT_FIELDS)
    else:
        exporter.write_jsonl(out, sys.stdout)


def _predicted_run(store, run_id: int | None) -> dict:
    """The run whose predictions to read; raises ``UsageError`` when there are none."""
    if run_id is None:
        run = store.latest_predicted_run()
        if run is None:
            raise UsageError("no predictions yet: train a run (it predicts at its end) or run "
                             "tui-label predict")
        return run
    run = store.run(run_id)
    if run is None:
        raise UsageError(f"there is no run {run_id}")
    if run["predicted_at"] is None:
        if run["status"] != "finished":  # predict takes finished runs only
            raise UsageError(f"run {run_id} has no predictions: it is {run['status']}, not "
                             "finished (resume it with tui-label train --resume "
                             f"{run_id}, or give a finished run)")
        raise UsageError(f"run {run_id} has no predictions: run tui-label predict --run "
                         f"{run_id}")
    return run

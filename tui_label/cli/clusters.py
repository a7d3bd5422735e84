"""``tui-label clusters``: a run's embeddings in k-means clusters, headless: per cluster its
size, the class the model predicts for most of it and that class's share, how many images are
labeled and agree, and the most typical images. Nothing is written."""

from __future__ import annotations

import csv
import io
import json

import click

from tui_label.cli.common import (
    db_option,
    dir_argument,
    existing_db,
    format_option,
    open_for_reading,
    run_option,
)
from tui_label.errors import UsageError


@click.command("clusters")
@dir_argument
@db_option
@run_option("Whose embeddings (default: the latest run with predictions).")
@click.option("--clusters", "k", type=click.IntRange(1, 500), default=None,
              help="How many (default: about the square root of half the images, 2 to 500).")
@click.option("--seed", type=int, default=0, show_default=True, help="k-means' seed.")
@click.option("--examples", type=click.IntRange(0, 100), default=3, show_default=True,
              help="Typical images listed per cluster (text only; CSV and JSON list all).")
@format_option(["text", "csv", "json"], "text",
               "Readable clusters, one CSV row per image, or one JSON object.")
def clusters(folder, db, run_id, k, seed, examples, fmt) -> None:
    """Clusters of the images by a run's embeddings, the ones one decision labels most of
    first (size times the share of the class the model predicts for most of it)."""
    from tui_label.assist.clusters import cluster_images  # heavy: numpy, scikit-learn

    db, _root = existing_db(folder, db)
    store = open_for_reading(db)
    try:
        preds, run = _predictions(store, run_id)
        states = store.label_states()
        names = {c.id: c.name for c in store.classes()}
    finally:
        store.close()
    paths = {row[0]: row[1] for row in states}
    labels = {row[0]: names[row[3]] for row in states
              if row[2] == "label" and row[3] in names}
    keep = [r for r, i in enumerate(preds.ids.tolist()) if i in paths]  # images still there
    found = cluster_images([int(preds.ids[r]) for r in keep], preds.embeddings[keep],
                           preds.probs[keep], preds.class_names, labels, k=k, seed=seed)
    click.echo(_render(found, paths, labels, run["id"], examples, fmt), nl=False)


def _predictions(store, run_id: int | None):
    from tui_label.assist.model_view import run_predictions_dir
    from tui_label.assist.predictions import PredictionSet

    run = store.run(run_id) if run_id is not None else store.latest_predicted_run()
    if run is None or not run["predicted_at"]:
        raise UsageError(f"run {run_id} has no predictions" if run_id is not None else
                         "no run has predicted yet: train a model first (`tui-label train`)")
    try:
        preds = PredictionSet.load(run_predictions_dir(store.path, run["id"]))
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(f"the predictions of run {run['id']} cannot be read: {exc}") from None
    if preds.embeddings is None:
        raise UsageError(f"run {run['id']} stored no embeddings to cluster")
    return preds, run


def _render(found, paths: dict[int, str], labels: dict[int, str], run_id: int,
            examples: int, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"run": run_id, "clusters": [
            {**c.to_dict(), "paths": [paths[i] for i in c.image_ids]} for c in found]},
            indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["cluster", "size", "predicted", "purity", "image_id", "path", "label"])
        for c in found:
            for i in c.image_ids:
                writer.writerow([c.number, c.size, c.predicted, f"{c.purity:.4f}", i, paths[i],
                                 labels.get(i, "")])
        return out.getvalue()
    lines = [f"run {run_id}: {len(found)} clusters of {sum(c.size for c in found)} images"]
    for c in found:
        agree = (f", {c.labeled} labeled ({c.agreeing} as {c.predicted})" if c.labeled
                 else ", none labeled")
        lines.append(f"cluster {c.number}: {c.size} images, {c.purity:.0%} predicted "
                     f"{c.predicted}{agree}")
        lines += [f"  {paths[i]}" for i in c.image_ids[:examples]]
    return "\n".join(lines) + "\n"

"""A finished run with predictions, written by hand (no torch): what the engine leaves behind
at the end of a run, for the labeler's tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tui_label.assist.model_view import run_predictions_dir
from tui_label.assist.predictions import PredictionSet, top_k_rows
from tui_label.store import Store


def save_run(store: Store, probs: dict[str, Sequence[float]], *,
             class_names: list[str] | None = None, embeddings: dict[str, Sequence[float]]
             | None = None, oof: dict[str, Sequence[float]] | None = None,
             suspects: Sequence[tuple[str, str, str, float, float]] = ()) -> int:
    """Store a finished run whose model gives ``probs`` (by image path, in the columns of
    ``class_names``, default today's classes). ``suspects`` rows: ``(path, given class name,
    predicted class name, p(predicted), p(given))``, most doubtful first. Returns the run id."""
    names = class_names or [c.name for c in store.classes() if c.hotkey]
    ids_by_path = {r[1]: r[0] for r in store.queue_rows()}
    run_id = store.create_run("small-cnn", {"epochs": 1}, names)
    store.update_run(run_id, status="finished")
    paths = sorted(probs, key=lambda p: ids_by_path[p])
    ids = np.array([ids_by_path[p] for p in paths], dtype=np.int64)
    matrix = np.array([probs[p] for p in paths], dtype=np.float32).reshape(len(paths), len(names))
    emb = None
    if embeddings is not None:
        emb = np.array([embeddings[p] for p in paths], dtype=np.float16)
    oof_ids = oof_probs = None
    if oof is not None:
        oof_paths = sorted(oof, key=lambda p: ids_by_path[p])
        oof_ids = np.array([ids_by_path[p] for p in oof_paths], dtype=np.int64)
        oof_probs = np.array([oof[p] for p in oof_paths], dtype=np.float32)
    PredictionSet(ids, matrix, names, emb, oof_ids, oof_probs).save(
        run_predictions_dir(store.path, run_id))
    class_ids = {c.name: c.id for c in store.classes()}
    store.save_predictions(run_id, "model",
                           top_k_rows(ids, matrix, [class_ids.get(n) for n in names]))
    store.save_suspects(run_id, [
        {"image_id": ids_by_path[path], "rank": rank, "given_class": class_ids[given],
         "predicted_class": class_ids[predicted], "probability": p, "given_probability": q}
        for rank, (path, given, predicted, p, q) in enumerate(suspects)])
    return run_id

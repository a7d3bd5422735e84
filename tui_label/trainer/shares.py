"""A run of several ranks predicts in shares: every rank predicts its share of the images
with the best weights, and rank 0 merges them.

The shares meet in files beside the run (the ranks may be on several machines that share the
database's folder), named with a token of this attempt, not through the process group:
predicting may take far longer than a collective may wait, and a rank that fails early must
not time the others out. Rank 0 waits for every rank's file (its predictions, or the line
saying why it has none), and stops waiting at the first such line or on a stop request.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tui_label.core.times import now_iso
from tui_label.trainer import data as tdata
from tui_label.trainer import predict
from tui_label.trainer.context import RunContext, prediction_problem

SHARE_POLL_S = 0.2  # how often rank 0 looks for the other ranks' predictions

Predicted = tuple[np.ndarray, np.ndarray, np.ndarray]  # ids, probs, embeddings


class ShareFiles:
    """The files of one attempt's shares: ``predictions-<token>-rank<k><suffix>``."""

    def __init__(self, folder: Path, token: str) -> None:
        self.folder, self.token = folder, token

    def path(self, rank: int, suffix: str) -> Path:
        return self.folder / f"predictions-{self.token}-rank{rank}{suffix}"

    def publish(self, rank: int, suffix: str) -> None:
        """The written ``.part`` file, under its final name (whole, or not at all)."""
        os.replace(self.path(rank, ".part"), self.path(rank, suffix))

    def remove_all(self) -> None:
        for path in self.folder.glob("predictions-*-rank*"):  # this attempt's, and left overs
            path.unlink(missing_ok=True)


def predict_shares(ctx: RunContext, model: nn.Module, data: tdata.TrainedData,
                   ) -> tuple[Predicted, tuple[str, int]] | str | None:
    """On rank 0: ``((ids, probs, embeddings), as_of)`` of all the images, or a string saying
    why there are none; None elsewhere (and in multi-label mode, which stores none)."""
    if ctx.opts.multi_label:
        return None  # none are stored (run.predict_at_end says so)
    token, as_of = ctx.world.broadcast(
        (os.urandom(6).hex(), (now_iso(), ctx.store.last_event_id())) if ctx.world.main
        else None)
    files = ShareFiles(ctx.best_path.parent, token)
    _predict_my_share(ctx, model, data, files)
    if not ctx.world.main:
        return None
    try:
        merged = _merge_shares(ctx, files)
        return merged if isinstance(merged, str) else (merged, as_of)
    except Exception as exc:  # a stop while waiting, a share that cannot be read: trained all
        return prediction_problem(exc, ctx.opts, ctx.run_id)  # the same, the run is kept
    finally:
        files.remove_all()


def _predict_my_share(ctx: RunContext, model: nn.Module, data: tdata.TrainedData,
                      files: ShareFiles) -> None:
    """This rank's share, with the best weights, to its ``.npz`` file; or why it has none, to
    its ``.problem`` file."""
    rank, size = ctx.world.rank, ctx.world.size
    try:
        state = torch.load(ctx.best_path, map_location=ctx.device, weights_only=True)["model"]
        model.load_state_dict(state)
        here = int(os.environ.get("LOCAL_WORLD_SIZE", size))
        ids, probs, embeddings = predict.predict_images(
            predict.Predictor(model, ctx.device, ctx.opts.batch_size), ctx.store, ctx.root,
            ctx.opts.size, ctx.emitter, cached=data.cached(), check=ctx.check_stop,
            share=(rank, size), workers=max(1, ((os.cpu_count() or 2) - 1) // here))
        with open(files.path(rank, ".part"), "wb") as out:
            np.savez(out, ids=ids, probs=probs, embeddings=embeddings)
        files.publish(rank, ".npz")
    except Exception as exc:
        problem = prediction_problem(exc, ctx.opts, ctx.run_id)
        if rank:
            problem = problem.replace("no predictions: ", f"no predictions: rank {rank}: ")
        files.path(rank, ".part").write_text(problem)
        files.publish(rank, ".problem")


def _merge_shares(ctx: RunContext, files: ShareFiles) -> Predicted | str:
    """Rank 0: every rank's share, in id order, once all are there; the first problem ends
    the wait (no predictions either way)."""
    ranks = range(ctx.world.size)
    while True:
        failed = [r for r in ranks if files.path(r, ".problem").exists()]
        if failed:
            return files.path(failed[0], ".problem").read_text()
        if all(files.path(r, ".npz").exists() for r in ranks):
            break
        ctx.check_stop()
        time.sleep(SHARE_POLL_S)
    parts = []
    for rank in ranks:
        with np.load(files.path(rank, ".npz")) as part:
            parts.append((part["ids"], part["probs"], part["embeddings"]))
    ids = np.concatenate([p[0] for p in parts])
    order = np.argsort(ids, kind="stable")
    return (ids[order], np.concatenate([p[1] for p in parts])[order],
            np.concatenate([p[2] for p in parts])[order])

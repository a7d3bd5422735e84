"""A training run from start to end: snapshot the labels, train, predict, record how it ended.

Runs in its own process (``tui-label train`` / ``python -m tui_label.trainer``). Everything it
learns goes to the store (run, per-epoch metrics, checkpoint paths, final status) and, live, to
stdout as events. A failure of any kind ends as a failed run with its reason. Its database
writes go through ``RunWriter`` (``runs/writes.py``): a locked database never fails a run for
a progress update.

``train`` decides where the run happens (here, or over several processes: ``launch``);
``_train`` is this process's part of it: it opens the run, hands it to ``loop.epoch_loop``,
then predicts (``predict``, ``shares``, ``folds``) and records the end.

Events, in order (see ``runs/events.py``): preparing, started, step, epoch, checkpoint (the
epoch loop), then after the last epoch fold (--folds only), predicting, predicted, and last
finished / failed / cancelled; warning at any point.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import replace

import torch
from torch import nn

from tui_label.media.decode_cache import DecodeCache
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.runs.resume import resumed_options, run_to_resume
from tui_label.runs.writes import RunWriter, WritePolicy
from tui_label.store import Store, StoreWriteError
from tui_label.trainer import launch, predict
from tui_label.trainer.checkpoint import (
    RunModel,
    at_this_machine,
    load_resumed_weights,
    reopen,
    resume_checkpoint,
)
from tui_label.trainer.context import (
    Cancelled,
    NaNLoss,
    NoWrites,
    RunContext,
    prediction_problem,
)
from tui_label.trainer.device import rank_device
from tui_label.trainer.distributed import ALONE, RESUME_ENV, RUN_ID_ENV, World
from tui_label.trainer.folds import fine_tune_folds
from tui_label.trainer.loop import Trained, epoch_loop
from tui_label.trainer.models import build_model
from tui_label.trainer.plan import label_mode, plan
from tui_label.trainer.shares import predict_shares
from tui_label.trainer.stopper import Stopper

EXIT_CODES = {"finished": 0, "failed": 1, "cancelled": 130}

MULTI_LABEL_NO_PREDICTIONS = (
    "multi-label run: no predictions, suggestions or suspect labels are stored (they are "
    "single-label); its model is in its checkpoints")


def train(opts: TrainOptions, emitter: Emitter, stopper: Stopper | None = None,
          writes: WritePolicy | None = None) -> int:
    """Run one training run to its end. Returns the process exit code (0 finished,
    1 failed, 130 cancelled). Raises ``UsageError`` before a run exists: bad settings, or a
    ``StoreWriteError`` when the run cannot even be recorded."""
    opts.validate()
    stopper = stopper or Stopper()
    writes = writes or WritePolicy()
    if opts.nice:
        os.nice(opts.nice)
    world = World.from_env()
    if not launched(world):
        if opts.resume is not None:  # the run's settings decide how many processes it takes
            opts = resume_settings(opts, writes)
        if opts.gpus or opts.nproc:  # --gpus / --nproc: start the ranks
            return launch.launch(opts, emitter, stopper, writes)
    if not world.main:  # rank 0 alone writes to the store and sends events
        store = Store(opts.db, readonly=True)
        emitter = Emitter("json", stream=open(os.devnull, "w"))  # noqa: SIM115
        writer: RunWriter | NoWrites = NoWrites()
    else:
        store = Store(opts.db, busy_timeout_ms=writes.busy_timeout_ms)
        writer = RunWriter(store, emitter, writes)
    try:
        return _train(opts, store, writer, emitter, stopper, world)
    finally:
        store.close()
        world.stop()


def launched(world: World) -> bool:
    """Whether this process is a rank started by ``launch`` (the run is the launcher's)."""
    return world.distributed or (RUN_ID_ENV in os.environ and "WORLD_SIZE" in os.environ)


def resume_settings(opts: TrainOptions, writes: WritePolicy) -> TrainOptions:
    """``--resume``: the run's own settings (checked: ``run_to_resume``), with what may change
    taken from ``opts``."""
    store = Store(opts.db, readonly=True, busy_timeout_ms=writes.busy_timeout_ms)
    try:
        resumed = resumed_options(opts, run_to_resume(store, opts.resume,
                                                      joining=opts.node_rank > 0))
    finally:
        store.close()
    # The processes and machines, now that the run's are known (its starting weights are its
    # checkpoint: a --weights file it began from may be gone).
    replace(resumed, resume=None, weights=None, pretrained=False).validate()
    return resumed


def _train(opts: TrainOptions, store: Store, writer: RunWriter | NoWrites, emitter: Emitter,
           stopper: Stopper, world: World = ALONE) -> int:
    """This process's part of the run: check what it trains on, build the model, open the
    run (or take over the launcher's), train, predict; every way it ends is recorded."""
    resume = None  # --resume: the run row and its last checkpoint, both checked
    if opts.resume is not None:
        run = run_to_resume(store, opts.resume)
        opts = resumed_options(opts, run)
        resume = (run, resume_checkpoint(run))
    resuming = resume is not None or (launched(world) and bool(os.environ.get(RESUME_ENV)))
    opts = label_mode(opts, store)
    warnings: list[str] = []
    planned = plan(opts, store, warnings.append)
    device = rank_device(opts.device, world)
    world.start(device)
    torch.manual_seed(opts.seed)  # the initial weights too: same seed, same run
    # A resumed run's weights are in its checkpoint: no pretrained or --weights file needed.
    model = build_model(opts.model, len(planned.names),
                        pretrained=False if resuming else opts.pretrained,
                        weights_file=None if resuming else opts.weights,
                        freeze_backbone=opts.freeze_backbone, warn=warnings.append)
    run_id, resume = _open_run(opts, store, writer, world, model, planned.names, resume)
    emitter.run_id = run_id
    ctx = RunContext(opts, store, writer, emitter, stopper, run_id, planned.root,
                     planned.names, planned.index_of, device, world)
    try:
        trained = epoch_loop(ctx, model, planned.items, warnings, resume[1] if resume else None)
        return _finish(ctx, trained)
    except Exception as exc:  # every other way a run ends: recorded, with its reason
        return record_end(ctx, *_why_it_ended(exc, opts))


def _open_run(opts: TrainOptions, store: Store, writer: RunWriter | NoWrites, world: World,
              model: nn.Module, names: list[str], resume: tuple[dict, dict] | None,
              ) -> tuple[int, tuple[dict, dict] | None]:
    """The run's id, created (a new run), reopened (``--resume``) or the launcher's; with a
    resumed run's checkpoint weights loaded into ``model``. Returns it and the resume."""
    if launched(world):  # rank 0 tells the others the run's id
        run_id = world.broadcast(int(os.environ[RUN_ID_ENV]) if world.main else None)
        if resume is not None or os.environ.get(RESUME_ENV):
            # reopened and checked by the launcher: every rank loads its checkpoint
            run = at_this_machine(store.run(run_id), opts.db)
            resume = (run, resume_checkpoint(run))
            load_resumed_weights(model, resume[1], run)
        return run_id, resume
    if resume is None:
        DecodeCache.open(opts.db, opts.size).close()  # one that cannot be: before a run exists
        store.try_reap_dead_runs(1000)  # runs killed before: failed, as the labeler does
        return writer.must("the new run", store.create_run, opts.model, opts.to_json(),
                           names), None
    load_resumed_weights(model, resume[1], resume[0])
    return reopen(store, writer, *resume), resume


def _why_it_ended(exc: Exception, opts: TrainOptions) -> tuple[str, str]:
    """``(status, reason)`` of a run that ``exc`` ended."""
    if isinstance(exc, Cancelled):
        return "cancelled", str(exc)
    if isinstance(exc, NaNLoss | StoreWriteError):
        return "failed", str(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return "failed", (f"CUDA out of memory at batch size {opts.batch_size}: try "
                          f"--batch-size {max(1, opts.batch_size // 2)} or a smaller "
                          "--image-size")
    traceback.print_exc()  # stderr, for whoever debugs it
    return "failed", f"{type(exc).__name__}: {exc}"


def record_end(ctx: RunContext, status: str, reason: str) -> int:
    """Record and announce a run that ended early (``failed`` or ``cancelled``); returns the
    exit code. When even that write fails, the event still goes out (and the labeler later
    reaps the run, whose process is gone, as failed)."""
    try:
        ctx.writer.must(f"the {status} status", ctx.store.update_run, ctx.run_id,
                        status=status, reason=reason)
    except StoreWriteError as exc:
        reason = f"{reason}; {exc}"
    ctx.emitter.emit(status, reason=reason)
    return EXIT_CODES[status]


def _finish(ctx: RunContext, trained: Trained) -> int:
    """After the epochs: the predictions, then the finished status (rank 0)."""
    world, shared = ctx.world, None
    if world.distributed:
        world.barrier()  # rank 0's last epoch (and best.pt) is written
        # Every rank predicts its share of the images; rank 0 alone does the rest (the folds,
        # the linear head, the store): no collective after this.
        shared = predict_shares(ctx, trained.model, trained.prepared.data)
        world.stop()
        if not world.main:
            trained.prepared.cache.close()
            return 0
    # The run stays "running" until its predictions are stored; a failure there is a warning
    # (and the reason on the finished run): the trained model is never lost to it.
    problem = predict_at_end(ctx, trained, shared)
    trained.prepared.cache.close()
    ctx.writer.must("the finished status", ctx.store.update_run, ctx.run_id,
                    status="finished", reason=problem)
    ctx.emitter.emit("finished", best_accuracy=trained.best_accuracy,
                     best_checkpoint=str(ctx.best_path), last_checkpoint=str(ctx.last_path),
                     seconds=time.monotonic() - trained.start)
    return 0


def predict_at_end(ctx: RunContext, trained: Trained, shared=None) -> str | None:
    """Predict every image with the best weights (and fine-tune the folds with ``--folds``).
    ``shared``: what ``shares.predict_shares`` returned (a run of several ranks). Returns
    None, or why there are no predictions (announced as a warning)."""
    opts, data = ctx.opts, trained.prepared.data
    if opts.multi_label:
        ctx.emitter.emit("warning", message=MULTI_LABEL_NO_PREDICTIONS)
        return None
    if isinstance(shared, str):  # a rank could not predict its share
        ctx.emitter.emit("warning", message=shared)
        return shared
    predicted, as_of = shared if shared is not None else (None, None)
    try:
        oof = None
        if opts.folds:
            oof = fine_tune_folds(opts, ctx.emitter, ctx.names, ctx.device, data,
                                  ctx.check_stop)
        state = torch.load(ctx.best_path, map_location=ctx.device, weights_only=True)["model"]
        trained.model.load_state_dict(state)
        run_model = RunModel(ctx.run_id, trained.model, ctx.best_path, ctx.names, opts)
        predict.predict_run(ctx.store, run_model, ctx.root, ctx.emitter, device=ctx.device,
                            batch_size=opts.batch_size, cached=data.cached(), oof=oof,
                            check=ctx.check_stop, write=ctx.writer.must, predicted=predicted,
                            as_of=as_of)
        return None
    except Exception as exc:  # the run is trained: say why, keep it
        reason = prediction_problem(exc, opts, ctx.run_id)
    ctx.emitter.emit("warning", message=reason)
    return reason

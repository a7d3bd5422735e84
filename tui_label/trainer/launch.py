"""``tui-label train --gpus N`` / ``--nproc N``: one run over several processes, with torch's
own launcher (``torch.distributed.run``, i.e. torchrun) and DDP.

This process (one per machine) checks the settings, creates the run (on the first machine),
fills the decode cache for the labeled images with every core, then starts torchrun with
``-m tui_label.trainer`` and the same options; the ranks find the run in ``RUN_ID_ENV``. Stop
signals are passed on to torchrun. When a rank dies, torchrun stops the others; this process
then marks the run failed with the first failure (torchrun's "root cause") as the reason.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import replace

import torch

from tui_label.core.types import TrainingItem
from tui_label.errors import UsageError
from tui_label.media.decode_cache import DecodeCache
from tui_label.runs.emit import Emitter
from tui_label.runs.options import TrainOptions
from tui_label.runs.resume import run_to_resume
from tui_label.runs.writes import RunWriter, WritePolicy
from tui_label.store import Store
from tui_label.trainer import data as tdata
from tui_label.trainer.checkpoint import (
    at_this_machine,
    load_resumed_weights,
    reopen,
    resume_checkpoint,
)
from tui_label.trainer.distributed import RESUME_ENV, RUN_ID_ENV
from tui_label.trainer.models import build_model
from tui_label.trainer.plan import label_mode, plan
from tui_label.trainer.stopper import Stopper

# torchrun's summary of a failed run: "rank: 1 (local_rank: 1)" ... "exitcode: -9 (pid: 123)".
_ROOT_CAUSE = re.compile(r"rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


def processes(opts: TrainOptions) -> int:
    """Processes on this machine: ``--gpus`` or ``--nproc`` (0 when neither is given)."""
    return opts.gpus or opts.nproc or 0


def check(opts: TrainOptions) -> None:
    """The launcher's own usage errors (before anything is written)."""
    n = processes(opts)
    if opts.gpus:
        if opts.device not in ("auto", "cuda"):
            raise UsageError(f"--gpus trains on CUDA GPUs, not --device {opts.device}; use "
                             f"--nproc for processes on the CPU")
        present = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if opts.gpus > present:
            raise UsageError(f"--gpus {opts.gpus}: this machine has {present} CUDA GPU(s)")
    elif opts.nproc and opts.device in ("cuda", "auto") and torch.cuda.is_available():
        present = torch.cuda.device_count()
        if opts.nproc > present:
            raise UsageError(f"--nproc {opts.nproc}: one process per GPU, and this machine "
                             f"has {present}; add --device cpu to train on the CPU")
    if opts.device == "mps":
        raise UsageError("several processes train on CUDA GPUs or the CPU, not mps")
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available (add --device cpu to train "
                         "on the CPU)")
    world = n * opts.nnodes
    if opts.batch_size % world:
        raise UsageError(f"--batch-size {opts.batch_size} does not divide among {world} "
                         f"processes: give a multiple of {world} (it is the global batch)")


def rank_device(opts: TrainOptions) -> str:
    if opts.gpus:
        return "cuda"
    if opts.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return opts.device


def command(opts: TrainOptions, events: str) -> list[str]:
    """The torchrun command line for this machine."""
    n = processes(opts)
    # The ranks get the run's settings on their command line, not --resume (RESUME_ENV).
    # A resumed run's ranks start from its checkpoint: not from --weights (gone, maybe) or
    # the pretrained weights.
    resumed = {"weights": None, "pretrained": False} if opts.resume is not None else {}
    rank_opts = replace(opts, gpus=None, nproc=None, nnodes=1, node_rank=0, resume=None,
                        **resumed,
                        master_addr=TrainOptions.master_addr, master_port=TrainOptions.master_port,
                        device=rank_device(opts), events=events, nice=0)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={n}"]
    if opts.nnodes == 1:
        cmd.append("--standalone")  # a free port of its own: two runs at once do not clash
    else:
        cmd += [f"--nnodes={opts.nnodes}", f"--node-rank={opts.node_rank}",
                f"--master-addr={opts.master_addr}", f"--master-port={opts.master_port}"]
    return cmd + ["-m", "tui_label.trainer", *rank_opts.command_args()]


def root_cause(stderr: str) -> tuple[int, int] | None:
    """``(rank, exit code)`` of the first failure in torchrun's summary, if it printed one."""
    marker = stderr.rfind("Root Cause")
    found = _ROOT_CAUSE.search(stderr[marker:] if marker >= 0 else stderr)
    return (int(found.group(1)), int(found.group(2))) if found else None


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def run_torchrun(cmd: list[str], env: dict[str, str], stopper: Stopper) -> tuple[int, str]:
    """Run torchrun, passing stop signals on and echoing its stderr; returns its exit code and
    what it wrote to stderr (for the root cause)."""
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            del lines[:-400]  # the tail is enough for the summary
            sys.stderr.write(line)
            sys.stderr.flush()

    reader = threading.Thread(target=pump, name="torchrun stderr", daemon=True)
    reader.start()

    def forward(signum, frame) -> None:
        stopper.requested = stopper.requested or signal.Signals(signum).name
        try:
            proc.send_signal(signum)
        except OSError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    reader.join(timeout=5)
    return code, "".join(lines)


def threads_per_rank(opts: TrainOptions) -> int:
    """CPU threads for each rank (one core is left for the labeler, as for one process)."""
    return max(1, ((os.cpu_count() or 2) - 1) // processes(opts))


def launch(opts: TrainOptions, emitter: Emitter, stopper: Stopper, writes: WritePolicy) -> int:
    """Check, create the run (machine 0), fill the decode cache, then run torchrun and wait.
    Returns the exit code (0 finished, 1 failed, 130 cancelled)."""
    check(opts)
    store = Store(opts.db, busy_timeout_ms=writes.busy_timeout_ms)
    try:
        opts = label_mode(opts, store)  # the ranks get it on their command line
        root, items, _index_of, names = plan(opts, store)
        resume = None
        if opts.resume is not None:  # checked here, before anything is written
            run = run_to_resume(store, opts.resume, joining=opts.node_rank > 0)
            resume = (run, resume_checkpoint(at_this_machine(run, opts.db)))
        check_model(opts, len(names), resume)
        DecodeCache.open(opts.db, opts.size).close()  # one that cannot be: before a run exists
        writer = RunWriter(store, emitter, writes)
        run_id = None
        if opts.node_rank == 0 and resume is None:
            run_id = writer.must("the new run", store.create_run, opts.model, opts.to_json(),
                                 names)
        elif opts.node_rank == 0:
            run_id = reopen(store, writer, *resume)
        emitter.run_id = run_id
        fill_cache(opts, root, items, emitter)
        emitter.close()  # the terminal is rank 0's from here
        env = rank_env(opts, run_id, resumed=resume is not None)
        code, stderr = run_torchrun(command(opts, emitter.mode), env, stopper)
        if code == 0 or run_id is None:
            return code
        return _after_failure(store, writer, emitter, run_id, code, stderr, stopper)
    finally:
        store.close()


def check_model(opts: TrainOptions, num_classes: int, resume: tuple[dict, dict] | None) -> None:
    """The model's own errors (an unknown name, weights not downloadable) before a run
    exists; the ranks build it again (a resumed one from its checkpoint)."""
    model = build_model(opts.model, num_classes,
                        pretrained=False if resume else opts.pretrained,
                        weights_file=None if resume else opts.weights,
                        freeze_backbone=opts.freeze_backbone, warn=lambda message: None)
    if resume is not None:
        load_resumed_weights(model, resume[1], resume[0])


def fill_cache(opts: TrainOptions, root, items: list[TrainingItem], emitter: Emitter) -> None:
    """Decode the labeled images into the cache here, with all of this machine's cores: every
    rank reads them (a rank waiting for another's decoding would time out its collectives)."""
    with DecodeCache.open(opts.db, opts.size) as cache:
        tdata.from_cache(cache, [(it.image_id, root / it.path) for it in items],
                         workers=os.cpu_count() or 1,
                         progress=lambda done, total, decoded: emitter.emit(
                             "preparing", done=done, total=total, decoded=decoded))


def rank_env(opts: TrainOptions, run_id: int | None, resumed: bool) -> dict[str, str]:
    """The ranks' environment: their threads, the run's id, whether it goes on (resumed)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads_per_rank(opts)))
    env.pop(RESUME_ENV, None)
    if run_id is not None:
        env[RUN_ID_ENV] = str(run_id)
    if resumed:
        env[RESUME_ENV] = "1"
    return env


def _after_failure(store: Store, writer: RunWriter, emitter: Emitter, run_id: int, code: int,
                   stderr: str, stopper: Stopper) -> int:
    """torchrun ended with an error: record why on the run, unless rank 0 already did."""
    run = store.run(run_id)
    if run["status"] == "cancelled" and stopper.requested:
        return 130
    if run["status"] == "running" and stopper.requested:
        # Asked to stop, and rank 0 ended before it could say so (torchrun stops every rank
        # once one has ended; a loaded machine can take rank 0 past its last write): the
        # run was cancelled all the same, where its last checkpoint is.
        last = run["last_checkpoint"]
        reason = f"stopped by {stopper.requested}" + (  # (no finished epoch: nothing to resume)
            f"; last checkpoint {last}: tui-label train --resume {run_id} goes on from there"
            if last and store.epochs(run_id) else "")
        writer.must("the cancelled status", store.update_run, run_id, status="cancelled",
                    reason=reason)
        emitter.emit("cancelled", reason=reason)
        return 130
    cause = root_cause(stderr)
    if cause is not None and cause[0] != 0:
        reason = (f"rank {cause[0]} ended ({describe_exit(cause[1])}): the run stopped on "
                  f"every rank")
    elif run["status"] == "failed" and run["reason"]:
        return 1  # rank 0 failed and said why
    else:
        reason = (f"rank 0 ended ({describe_exit(cause[1])})" if cause
                  else f"torchrun ended with {describe_exit(code)}")
    writer.must("the failed status", store.update_run, run_id, status="failed",
                reason=reason)
    emitter.emit("failed", reason=reason)
    return 1

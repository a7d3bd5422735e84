"""One run over several processes (DDP), started by torch's own launcher.

``tui-label train --gpus N`` (or ``--nproc N``, e.g. on the CPU with the gloo backend) runs
``launch.launch``, which starts ``torch.distributed.run`` with ``-m tui_label.trainer`` and the
same options. Each process it starts (a *rank*) finds ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in its environment: ``World.from_env()``. Rank 0 is the only writer to the store
and the only source of events; the others train and evaluate their share.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# How long a collective may wait for the other ranks before the run fails (a rank that hangs
# rather than dies). Decoding happens before the ranks start (the launcher fills the cache).
COLLECTIVE_TIMEOUT = timedelta(minutes=10)
RUN_ID_ENV = "TUI_LABEL_RUN_ID"  # the run the launcher created (or reopened), for rank 0
RESUME_ENV = "TUI_LABEL_RESUME"  # "1": the launcher reopened that run (--resume) to go on


@dataclass(frozen=True)
class World:
    """This process's place in a run: rank ``rank`` of ``size``; ``local_rank`` on its
    machine (which GPU it drives)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> World:
        if "WORLD_SIZE" not in os.environ:
            return cls()
        return cls(int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"]),
                   int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        """Rank 0: the store's only writer and the only source of events."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def start(self, device: torch.device) -> None:
        """Join the other ranks (NCCL on CUDA, gloo on the CPU)."""
        if self.distributed and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)

    def stop(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        """Wait until every rank is here."""
        if self.distributed:
            dist.barrier()

    def broadcast(self, value):
        """Rank 0's ``value``, on every rank."""
        if not self.distributed:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value) -> list:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        out = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def any(self, flag: bool) -> bool:
        """Whether any rank says ``flag`` (e.g. "stop requested"): all ranks agree."""
        if not self.distributed:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks."""
        if not self.distributed:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.item() / self.size

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's share of an epoch's ``order``, as ``DistributedSampler`` cuts it: padded
        with its first entries to a multiple of the world size, then every ``size``-th."""
        if not self.distributed:
            return order
        pad = (-len(order)) % self.size
        if pad:
            order = torch.cat([order, order[:pad]])
        return order[self.rank::self.size]


ALONE = World()  # one process: every collective is a no-op


def epoch_order(n: int, seed: int, epoch: int, repeats: int = 1) -> torch.Tensor:
    """The same order on every rank (each then takes its ``shard``): ``repeats`` permutations
    of ``n`` one after the other (see ``data.epoch_repeats``)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.cat([torch.randperm(n, generator=generator) for _ in range(repeats)])

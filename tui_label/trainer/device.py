"""Where and how a run computes: the device, its precision (autocast), the GPU's status."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from tui_label.errors import UsageError
from tui_label.trainer.distributed import World


def pick_device(requested: str) -> torch.device:
    """``--device``: ``auto`` is CUDA, else Apple's Metal, else the CPU.

    Raises:
        UsageError: the device asked for is not there.
    """
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available")
    if requested == "mps" and not (getattr(torch.backends, "mps", None)
                                   and torch.backends.mps.is_available()):
        raise UsageError("--device mps: Apple's Metal backend is not available")
    return torch.device(requested)


def rank_device(requested: str, world: World) -> torch.device:
    """This rank's device: with several ranks on CUDA, the GPU of its local rank."""
    device = pick_device(requested)
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    return device


def autocast_for(device: torch.device,
                 ) -> tuple[AbstractContextManager[Any], torch.amp.GradScaler | None]:
    """bf16 autocast on GPUs that have it, fp16 (with a grad scaler) on older ones, none on CPU."""
    if device.type != "cuda":
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


def precision_of(fit: Any) -> str:
    """How the steps of ``fit`` (anything with an ``autocast``) compute: ``bf16`` or ``fp16``
    (autocast on a GPU) or ``fp32``."""
    autocast = fit.autocast
    if isinstance(autocast, torch.autocast):
        return "bf16" if autocast.fast_dtype == torch.bfloat16 else "fp16"
    return "fp32"


def logits_of(output: Any) -> torch.Tensor:
    """Inception and GoogLeNet return (logits, aux) tuples in train mode: the logits."""
    return getattr(output, "logits", output)


def gpu_status(device: torch.device) -> dict:
    """The GPU's peak memory in this run and, where NVML can be read (the ``nvidia-ml-py``
    package), its utilisation in percent."""
    status = {"gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20}
    try:
        status["gpu_util"] = float(torch.cuda.utilization(device))
    except Exception:  # no NVML here: memory only
        pass
    return status

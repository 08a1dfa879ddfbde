"""torch.distributed for training under torchrun: set-up from torchrun's environment and small helpers.

One process per device. ``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them
(a plain ``vidcap train``) everything here is a no-op for a single process, so the same code and
config run on one CPU or on many GPUs over several nodes. The backend is NCCL on CUDA and gloo on CPU.

Example:
    >>> ctx = init_distributed("cpu")    # outside torchrun: a single process
    >>> ctx.rank, ctx.world_size, ctx.is_main
    (0, 1, True)
    >>> all_gather_objects([1, 2], ctx)
    [[1, 2]]
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from vidcap.errors import UsageError

__all__ = ["DistContext", "all_gather_objects", "all_reduce_sum", "barrier", "close_distributed",
           "init_distributed"]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, writes checkpoints and metrics."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"environment variable {name}={value!r} is not an integer (set by torchrun)") from None


def init_distributed(device_type: str) -> DistContext:
    """Join torchrun's process group (NCCL for ``cuda``, gloo otherwise); single process without torchrun."""
    ctx = DistContext(rank=_env_int("RANK", 0), world_size=_env_int("WORLD_SIZE", 1),
                      local_rank=_env_int("LOCAL_RANK", 0))
    if ctx.active and not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        # A generous timeout: rank 0 may spend minutes on validation while the others wait at a barrier.
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=60))
    return ctx


def close_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier()


def all_reduce_sum(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The sum of ``value`` over all processes (``value`` itself for a single process)."""
    if ctx.active:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order, on every process."""
    if not ctx.active:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered

"""Distributed data parallel (DDP) under ``torchrun``: gloo on CPU, NCCL on CUDA.

The CLI reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and passes a
:class:`DistContext`; library code never reads the environment. With ``world_size == 1`` every
helper is a no-op and the model is not wrapped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from albertctl.errors import AlbertctlError


@dataclass(frozen=True, kw_only=True)
class DistContext:
    """Where this process sits in a DDP job."""

    rank: int = 0
    """Global rank, 0..world_size-1; rank 0 writes files and logs."""
    world_size: int = 1
    """Number of processes."""
    local_rank: int = 0
    """Rank on this node: picks ``cuda:local_rank`` on multi-GPU nodes."""

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise AlbertctlError(f"WORLD_SIZE must be >= 1, got {self.world_size}")
        if not 0 <= self.rank < self.world_size:
            raise AlbertctlError(f"RANK must be in 0..{self.world_size - 1}, got {self.rank}")
        if self.local_rank < 0:
            raise AlbertctlError(f"LOCAL_RANK must be >= 0, got {self.local_rank}")

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0


def context_from_env(env: Mapping[str, str]) -> DistContext:
    """A :class:`DistContext` from torchrun's variables (a single process when they are absent)."""
    try:
        return DistContext(
            rank=int(env.get("RANK", "0")),
            world_size=int(env.get("WORLD_SIZE", "1")),
            local_rank=int(env.get("LOCAL_RANK", "0")),
        )
    except ValueError as exc:
        if isinstance(exc, AlbertctlError):
            raise
        raise AlbertctlError(f"bad torchrun environment: {exc}", hint="launch with torchrun") from exc


def device_for_rank(device: torch.device, ctx: DistContext) -> torch.device:
    """On CUDA without an explicit index, each process takes ``cuda:local_rank``."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", ctx.local_rank)
    return device


def init_process_group(ctx: DistContext, device: torch.device) -> None:
    """Join the job (``env://`` rendezvous from torchrun): NCCL on CUDA, gloo on CPU."""
    if not ctx.is_distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)


def destroy_process_group(ctx: DistContext) -> None:
    """Leave the job (no-op for a single process)."""
    if ctx.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """DDP-wrap ``model`` for a multi-process job; the plain model otherwise."""
    if not ctx.is_distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (and return it)."""
    if ctx.is_distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` for one process)."""
    if not ctx.is_distributed:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier(ctx: DistContext) -> None:
    """Wait for every rank."""
    if ctx.is_distributed:
        dist.barrier()


@contextlib.contextmanager
def no_sync(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Skip DDP's gradient all-reduce for a micro-batch that is not the last of its step."""
    if enabled and hasattr(model, "no_sync"):
        with model.no_sync():
            yield
    else:
        yield

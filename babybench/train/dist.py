"""Single-host multi-GPU through ``torchrun`` and DDP, degrading to one process.

``torchrun --nproc_per_node=N -m babybench train ...`` sets ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK``; :func:`init` then opens the process group (NCCL
on CUDA, gloo on CPU). Without them everything runs in one process and the
helpers below are no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist


@dataclass
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the one process that writes files and prints."""
        return self.rank == 0


def init(device: str) -> DistInfo:
    """Open the process group when ``WORLD_SIZE > 1``; returns this rank's info."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not tdist.is_initialized():
        use_cuda = torch.cuda.is_available() and device != "cpu"
        if use_cuda:
            torch.cuda.set_device(local)
        tdist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, world=world, local_rank=local)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in one process)."""
    if info.world > 1:
        tdist.barrier()


def mean_across(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of ``t`` over ranks (in place; no-op in one process)."""
    if info.world > 1:
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        t /= info.world
    return t


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's boolean, on every rank."""
    if info.world <= 1:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    tdist.broadcast(t, src=0)
    return bool(t.item())


def shutdown(info: DistInfo) -> None:
    """Close the process group if this module opened one."""
    if info.world > 1 and tdist.is_initialized():
        tdist.destroy_process_group()

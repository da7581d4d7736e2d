"""torchrun support: process group (backend chosen from the device), rank helpers, all-reduce."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from nn_crosscheck_common import UsageError


def world_and_local_rank() -> tuple[int, int]:
    """(world size, local rank) from torchrun's environment; (1, 0) when run alone."""
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))


def backend(device: torch.device) -> str:
    """gloo for CPU tensors (even when CUDA is visible), nccl for CUDA tensors."""
    return "nccl" if device.type == "cuda" else "gloo"


def check_gpus(device: torch.device, world: int, local_world: int, gpus: int) -> None:
    """One process per GPU: more processes on a node than it has GPUs is a usage error."""
    if device.type == "cuda" and local_world > gpus:
        raise UsageError(f"torchrun: {local_world} processes per node on CUDA but this machine has {gpus} "
                         f"GPU{'s' if gpus != 1 else ''}; use --nproc_per_node={gpus} or --device cpu")


def init(device: torch.device) -> tuple[int, int]:
    """(rank, world size); starts a process group when run under torchrun."""
    world, _ = world_and_local_rank()
    if world == 1:
        return 0, 1
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    check_gpus(device, world, local_world, torch.cuda.device_count() if device.type == "cuda" else 0)
    dist.init_process_group(backend(device))
    return dist.get_rank(), world


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_tensor(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over all processes in place (identity when not distributed)."""
    if active():
        dist.all_reduce(t)
    return t


def barrier() -> None:
    if active():
        dist.barrier()


def shutdown() -> None:
    if active():
        dist.destroy_process_group()

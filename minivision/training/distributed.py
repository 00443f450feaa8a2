"""Data-parallel training under ``torchrun`` (PyTorch DistributedDataParallel, Li et al. 2020).

``torchrun --nproc_per_node=N script.py`` starts N copies of the script and sets RANK,
LOCAL_RANK and WORLD_SIZE in each. Every process holds a full copy of the model, trains on its own
1/N of each epoch (a DistributedSampler), and DDP averages the gradients across processes during
``backward`` so that all copies take the same step. Only rank 0 writes files and shows progress.
Without torchrun these helpers do nothing and the same code trains on one device.
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False  # True if setup_distributed started the group (then it ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True inside a process that torchrun (or another launcher) started with RANK/WORLD_SIZE."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup_distributed(device_type: str) -> DistInfo:
    """Join the process group if launched by torchrun: NCCL between GPUs, gloo between CPUs.

    On CUDA each process takes the GPU ``LOCAL_RANK``. Outside torchrun, returns rank 0 of 1.
    """
    if not launched_by_torchrun():
        return DistInfo()
    info = DistInfo(rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]),
                    local_rank=int(os.environ.get("LOCAL_RANK", 0)))
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        info.initialized_here = True
    return info


def teardown_distributed(info: DistInfo) -> None:
    """Leave the process group if :func:`setup_distributed` joined it."""
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all processes (in place); the identity without a process group."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_sums(sums: dict, device: torch.device) -> dict:
    """Sum named scalars over all processes: {name: tensor ()} -> {name: tensor ()}.

    A process whose shard had no batch at all knows no names; it still joins the reduction (with
    zeros), else the others would wait for it forever. So the processes first agree on the names
    (the first non-empty list, in its order, then any others), then add one stacked tensor.
    Without a process group: ``sums``.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return sums
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, list(sums))
    names = list(dict.fromkeys(name for names in everyone for name in names))
    if not names:
        return {}
    zero = torch.zeros((), device=device)
    totals = torch.stack([sums.get(name, zero).to(device) for name in names])
    dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return dict(zip(names, totals))


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class ShardSampler(Sampler):
    """Indices rank, rank + N, rank + 2N, ... in order and without padding: for evaluation, where
    every sample must count exactly once (a DistributedSampler pads with repeats)."""

    def __init__(self, num_samples: int, *, rank: int, world_size: int):
        self.indices = range(rank, num_samples, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

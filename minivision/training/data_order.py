"""The order of the batches: what fit does to a loader so that a resumed run sees what the
uninterrupted one saw.

fit rebuilds the train loader around a :class:`ResumableSampler`: the permutation of every epoch
is a function of (seed, epoch), the same on every process, and an interrupted epoch skips the
batches it already trained on. Each batch also carries a seed of (seed, rank, epoch, batch) for
the augmentations drawn in the workers (:mod:`~minivision.training.batch_seeds`).
"""
import itertools

import torch
from torch.utils.data import (BatchSampler, DataLoader, DistributedSampler, IterableDataset,
                              RandomSampler, Sampler)

from ..data.device import DeviceLoader
from .batch_seeds import BatchSeededDataset, SeededBatchSampler
from .distributed import ShardSampler


class ResumableSampler(Sampler):
    """A DistributedSampler (order fixed by seed and epoch; one shard per process) that can
    skip the batches an interrupted epoch already trained on."""

    def __init__(self, sampler: DistributedSampler, batch_size: int):
        self.sampler, self.batch_size, self.skip, self.epoch = sampler, batch_size, 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.sampler.set_epoch(epoch)  # a new permutation each epoch, the same on every process
        self.epoch, self.skip = epoch, skip_batches * self.batch_size

    def __iter__(self):
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


def controlled_loader(loader: DataLoader, seed: int, dist_info):
    """The same loader, rebuilt around a :class:`ResumableSampler` and a private generator (so
    that starting an epoch does not consume the global random state); each batch is seeded by
    (seed, rank, epoch, batch) inside the workers (:mod:`~minivision.training.batch_seeds`).

    Returns:
        (loader, sampler, generator): iterate the loader; call ``sampler.set_epoch(epoch,
        skip_batches=...)`` and seed ``generator`` (the workers' base seed) before each epoch.
    """
    if isinstance(loader, DeviceLoader):  # orders and skips its batches itself, by (seed, epoch)
        loader = loader.shard(seed=seed, rank=dist_info.rank, world_size=dist_info.world_size)
        return loader, loader, torch.Generator()
    if not isinstance(loader, DataLoader) or loader.batch_size is None:
        raise ValueError("fit needs a torch DataLoader built with batch_size=... (not a custom "
                         f"batch_sampler); got {type(loader).__name__}.")
    if isinstance(loader.dataset, IterableDataset):
        raise ValueError("fit needs a map-style dataset (with __len__ and __getitem__) to fix the "
                         "order of every epoch; got an IterableDataset.")
    if not isinstance(loader.batch_sampler, BatchSampler):
        raise ValueError("fit rebuilds the loader's sampler to make resuming exact; build the "
                         "loader with batch_size=..., not a custom batch_sampler.")
    shuffle = isinstance(loader.sampler, RandomSampler) or getattr(loader.sampler, "shuffle", False)
    dist_sampler = DistributedSampler(loader.dataset, num_replicas=dist_info.world_size,
                                      rank=dist_info.rank, shuffle=shuffle, seed=seed)
    sampler = ResumableSampler(dist_sampler, loader.batch_size)
    generator = torch.Generator()
    batches = SeededBatchSampler(sampler, loader.batch_size, loader.drop_last, seed=seed,
                                 rank=dist_info.rank)
    rebuilt = DataLoader(
        BatchSeededDataset(loader.dataset), batch_sampler=batches,
        num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn, generator=generator,
        persistent_workers=loader.persistent_workers,
        prefetch_factor=loader.prefetch_factor if loader.num_workers > 0 else None,
    )
    return rebuilt, sampler, generator


def sharded_loader(loader: DataLoader, dist_info) -> DataLoader:
    """Each process evaluates every world_size-th sample; evaluate() adds the sums."""
    if isinstance(loader, DeviceLoader):
        return loader.shard(seed=0, rank=dist_info.rank, world_size=dist_info.world_size)
    sampler = ShardSampler(len(loader.dataset), rank=dist_info.rank,
                           world_size=dist_info.world_size)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      pin_memory=loader.pin_memory)

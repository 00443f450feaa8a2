"""Random augmentations in DataLoader workers that a resumed run repeats exactly.

A worker process draws its augmentations from its own generator, seeded once when the worker
starts, and the workers take the batches in turn (batch b goes to worker b mod W). A run resumed
at batch 37 therefore hands batch 37 to worker 0, whose generator is where batch 0's was: other
crops, other flips, other weights (issue 21 measured 0.012). Here every batch carries its own seed,
a function of (seed, rank, epoch, batch) only, and the worker reseeds ``random``, NumPy and torch
with it before loading the batch. In the main process (``num_workers=0``) nothing is reseeded:
there the global generators are in every checkpoint already.
"""
import numpy as np
from torch.utils.data import BatchSampler, Dataset, Sampler, get_worker_info

from ..runtime import seed_everything


def batch_seed(seed: int, rank: int, epoch: int, batch: int) -> int:
    """A 32-bit seed for one batch; NumPy's SeedSequence mixes the four numbers well."""
    return int(np.random.SeedSequence([seed, rank, epoch, batch]).generate_state(1)[0])


class SeededBatchSampler(Sampler):
    """Yields ``(seed, indices)`` per batch, numbering batches from the ones the sampler skips.

    Args:
        sampler: a :class:`~minivision.training.data_order.ResumableSampler`.
        batch_size, drop_last: as for a DataLoader.
        seed, rank: the run's seed and this process's rank.
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool, *, seed: int, rank: int):
        self.sampler, self.seed, self.rank = sampler, seed, rank
        self.batches = BatchSampler(sampler, batch_size, drop_last)

    def __iter__(self):
        first = self.sampler.skip // self.sampler.batch_size  # batches already trained on
        for b, indices in enumerate(self.batches, start=first):
            yield batch_seed(self.seed, self.rank, self.sampler.epoch, b), indices

    def __len__(self) -> int:
        return len(self.batches)


class BatchSeededDataset(Dataset):
    """Wraps a map-style dataset; loads ``(seed, indices)`` batches, reseeding inside workers."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index]

    def __getitems__(self, batch) -> list:
        seed, indices = batch
        if get_worker_info() is not None:
            seed_everything(seed)
        getitems = getattr(self.dataset, "__getitems__", None)
        return getitems(indices) if getitems else [self.dataset[i] for i in indices]

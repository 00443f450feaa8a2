"""Batch sampling: same-class batches (pseudo-videos) and a seeded DataLoader helper.

``SameClassBatchSampler`` makes every batch hold images of one class. Lesson 09 stacks such a batch
along a time axis, (B, C, H, W) -> (1, T=B, C, H, W), to make a "pseudo-video" whose frames share a
label, the setting of the original experiment before the motion clips of ``BuiltinMotionClips``.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class SameClassBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices, each list from a single class.

    Per epoch: the indices of each class are shuffled and cut into batches; then the order of all
    batches is shuffled, so classes are interleaved. Same ``seed`` and epoch, same batches.

    Args:
        labels: the label of every item (e.g. ``dataset.targets``).
        batch_size: items per batch (>= 1).
        shuffle: shuffle within classes and the order of batches; False gives class by class in
            index order.
        drop_last: drop each class's last batch if it is short (else it is yielded short).
        seed: base seed; the epoch's generator is seeded with (seed, epoch).
    """

    def __init__(
        self,
        labels: Sequence[int] | torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
    ):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        labels = torch.as_tensor(labels).flatten()  # (n,)
        self.batch_size, self.shuffle, self.drop_last, self.seed = (
            batch_size,
            shuffle,
            drop_last,
            seed,
        )
        self.epoch = 0
        # index lists per class, in index order: the only thing kept from the labels
        self.class_indices = [
            torch.nonzero(labels == c).flatten().tolist() for c in labels.unique().tolist()
        ]

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch, so each epoch gets different (but reproducible) batches."""
        self.epoch = epoch

    def _num_batches(self, n: int) -> int:
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        return sum(self._num_batches(len(indices)) for indices in self.class_indices)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for indices in self.class_indices:
            order = rng.permutation(len(indices)) if self.shuffle else np.arange(len(indices))
            for b in range(self._num_batches(len(indices))):
                batches.append(
                    [indices[i] for i in order[b * self.batch_size : (b + 1) * self.batch_size]]
                )
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        yield from batches


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    num_workers: int = 0,
    seed: int = 0,
    collate_fn=None,
) -> DataLoader:
    """A ``DataLoader`` with the usual settings and a seeded shuffle.

    Training loaders shuffle with a generator seeded by ``seed`` (the same seed, the same order)
    and drop the last short batch (so BatchNorm never sees a batch of one), unless that would leave
    no batch at all. Evaluation loaders keep the order and every item.

    Args:
        dataset: yields (image, label).
        batch_size: items per batch (>= 1).
        train: shuffle and drop the last short batch.
        num_workers: worker processes (0: load in the main process).
        seed: seed of the shuffling generator.
        collate_fn: e.g. :class:`MixCollate`; None uses PyTorch's default.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"batch_size must be an int >= 1, got {batch_size!r}; pass e.g. batch_size=128."
        )
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}.")
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: nothing to load.")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        drop_last=train and len(dataset) > batch_size,
        num_workers=num_workers,
        collate_fn=collate_fn,
        generator=generator,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
    )

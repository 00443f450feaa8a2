"""Data on the device: a uint8 dataset kept on the GPU and batched, augmented and normalised there.

A small model on a GPU trains faster than a DataLoader can crop, flip, normalise and copy its
images one by one. CIFAR-10 as uint8 is 150 MB (60,000 x 3 x 32 x 32 bytes), which fits in any
GPU's memory, so :class:`DeviceLoader` stores it there once and makes every batch with a few
tensor operations: gather the batch's images, crop and flip each with its own random draw
(``batch_augment.py``), scale to [0, 1], normalise, then CutMix or MixUp per sample.

    train_loader = device_loader(get_dataset("cifar10", transform=to_uint8), "cifar10", 128,
                                 train=True, device="cuda")

The order of epoch e is that of ``fit``'s DataLoader for the same seed (a DistributedSampler's
permutation), and the random draws of batch b are a function of (seed, rank, e, b) alone. So a
run repeats exactly, and ``fit`` resumes in the middle of an epoch by skipping batches: it
recognises a DeviceLoader and uses its ``set_epoch(epoch, skip_batches)``. The same code runs on
a CPU (``device="cpu"``), which is how the tests check it.
"""
import copy
import os
import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.transforms import v2

from .batch_augment import BatchAugment, augment_batch, draw_params, mix_batch
from .datasets import dataset_info
from .memory import InMemoryDataset, _Raw
from .samplers import make_loader
from .transforms import MixCollate, _augmentation, default_transforms

# The images may fill at most this fraction of the GPU's free memory: the rest is for the model,
# its optimizer state and the activations.
MEMORY_FRACTION = 0.5

# The transform that keeps a dataset's images as they are stored: uint8 tensors (C, H, W).
to_uint8 = v2.Compose([v2.ToImage(), v2.ToPureTensor()])


class DeviceLoader:
    """Batches of uint8 images held on ``device``: (images (B, C, H, W) float32, targets).

    Iterating once gives one epoch. Training batches are shuffled, augmented and the last short
    batch dropped (unless that leaves none), as with ``make_loader``; evaluation batches keep the
    order and every image. Each pass is the next epoch unless ``set_epoch`` chose one.

    Args:
        images: (N, C, H, W) uint8; copied to ``device`` once.
        targets: (N,) integer labels.
        batch_size: B.
        train: shuffle, augment, drop the last short batch.
        mean, std: per-channel Normalize statistics of images in [0, 1].
        augment: the per-sample :class:`BatchAugment` of training batches (None: none).
        device: where the images live and the batches are made.
        seed: the shuffle order and the random draws (``fit`` sets its own ``config.seed``).
        classes: the class names, kept on ``.dataset``.
    """

    def __init__(self, images: torch.Tensor, targets, *, batch_size: int, train: bool, mean,
                 std, augment: BatchAugment | None = None, device="cpu", seed: int = 0,
                 classes=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        self.device = torch.device(device)
        self.dataset = InMemoryDataset(images.to(self.device), targets, classes)  # checks both
        self.images = self.dataset.images  # (N, C, H, W) uint8, on the device
        self.targets = torch.as_tensor(self.dataset.targets, device=self.device)  # (N,) int64
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(-1, 1, 1)
        self.batch_size, self.train, self.augment = batch_size, train, augment
        self.drop_last = train and len(images) > batch_size  # make_loader's rule
        self.seed, self.rank, self.world_size = seed, 0, 1
        self.epoch, self.skip = 0, 0

    def shard(self, *, seed: int, rank: int = 0, world_size: int = 1) -> "DeviceLoader":
        """A copy (sharing the images) for process ``rank`` of ``world_size``, seeded by
        ``seed``: what ``fit`` trains on."""
        loader = copy.copy(self)
        loader.seed, loader.rank, loader.world_size = seed, rank, world_size
        loader.epoch, loader.skip = 0, 0
        return loader

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """The next pass gives epoch ``epoch``, from its batch ``skip_batches`` on (a resume)."""
        self.epoch, self.skip = epoch, skip_batches

    def _sampler(self) -> DistributedSampler:
        # the same permutation of (seed, epoch) as fit's DataLoader; only its length is read
        return DistributedSampler(range(len(self.images)), num_replicas=self.world_size,
                                  rank=self.rank, shuffle=True, seed=self.seed)

    def _order(self, epoch: int) -> torch.Tensor:
        """The indices of one epoch on this process, (n,) on the device."""
        if not self.train:  # every world_size-th image, as fit's evaluation shards
            return torch.arange(self.rank, len(self.images), self.world_size, device=self.device)
        sampler = self._sampler()
        sampler.set_epoch(epoch)
        return torch.tensor(list(sampler)).to(self.device)

    def __len__(self) -> int:
        """Batches in a whole epoch (a resumed epoch skips some of them)."""
        if self.train:  # the sampler pads the dataset to a multiple of world_size
            n = self._sampler().num_samples
        else:
            n = len(range(self.rank, len(self.images), self.world_size))
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        epoch, skip = self.epoch, self.skip
        self.epoch, self.skip = epoch + 1, 0
        order = self._order(epoch)
        for b in range(skip, len(self)):
            yield self._batch(order[b * self.batch_size:(b + 1) * self.batch_size], epoch, b)

    def _batch(self, index: torch.Tensor, epoch: int, b: int):
        """Batch ``b`` of ``epoch``: images (B, C, H, W) float32, targets (B,) or (B, K)."""
        images = self.images[index]  # (B, C, H, W) uint8
        labels = self.targets[index]  # (B,)
        if not self.train or self.augment is None:
            return self._normalise(images), labels
        rng = np.random.default_rng([self.seed % 2**32, self.rank, epoch, b])
        params = self._to_device(draw_params(rng, len(index), images.shape[-1], self.augment))
        x = self._normalise(augment_batch(images, params, self.augment))  # (B, C, H, W)
        if self.augment.mix is not None:
            return mix_batch(x, labels, params, self.augment.num_classes)  # (B, C, H, W), (B, K)
        return x, labels

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 -> [0, 1] -> (x - mean) / std: v2.ToDtype(scale=True) then v2.Normalize."""
        x = images.to(torch.float32).mul_(1.0 / 255)  # (B, C, H, W)
        return x.sub_(self.mean).div_(self.std)

    def _to_device(self, params: dict) -> dict:
        """NumPy draws -> tensors on the device (float64 -> float32), copied without a sync."""
        tensors = {}
        for name, value in params.items():
            tensor = torch.from_numpy(np.ascontiguousarray(value))
            if tensor.dtype == torch.float64:
                tensor = tensor.float()
            if self.device.type == "cuda":
                tensor = tensor.pin_memory()  # a copy from pinned memory does not block the host
            tensors[name] = tensor.to(self.device, non_blocking=True)
        return tensors


def device_loader(dataset: Dataset, name: str, batch_size: int, *, train: bool, device=None,
                  augmentation: str = "standard", mix: str | None = None, alpha: float = 1.0,
                  seed: int = 0, num_workers: int = 0) -> DeviceLoader | DataLoader:
    """A :class:`DeviceLoader` for a dataset named ``name``, or ``make_loader``'s DataLoader.

    The DataLoader (the per-image ``default_transforms`` and :class:`MixCollate`) is the
    fallback, with a one-line warning that says why, when the images would take more than
    ``MEMORY_FRACTION`` of the GPU's free memory or the augmentation has no batch version.

    Args:
        dataset: yields (uint8 image (C, H, W), label): ``get_dataset(name, transform=to_uint8)``,
            or an :class:`InMemoryDataset` (its stored uint8 images are used, not its transform).
        name: the dataset's name, for its mean, std and augmentation (``default_transforms``).
        batch_size: B.
        train: a training loader (shuffled, augmented) or an evaluation one.
        device: where to keep the images; None: this process's GPU (cuda:$LOCAL_RANK under
            torchrun) if there is one, else the CPU.
        augmentation: "standard" (the dataset's usual crop / flips) or "none".
        mix: None, "cutmix", "mixup" or "both" (training only). alpha: its Beta parameter.
        seed: the order and the draws (``fit`` uses its own seed instead).
        num_workers: of the fallback DataLoader.
    """
    info = dataset_info(name)
    device = _default_device(device)
    mix = mix if train else None
    reason = _why_not_on_device(dataset, name, train=train, augmentation=augmentation,
                                device=device)
    if reason is not None:
        warnings.warn(f"data on the device: {reason}; loading batches on the host instead.",
                      stacklevel=2)
        transform = default_transforms(name, train=train, augmentation=augmentation)
        collate = MixCollate(mix, info.num_classes, alpha) if mix is not None else None
        return make_loader(_with_transform(dataset, transform), batch_size, train=train,
                           num_workers=num_workers, seed=seed, collate_fn=collate)
    augment = None
    if train and (augmentation == "standard" or mix is not None):
        recipe = _augmentation(name, info.image_size) if augmentation == "standard" else []
        augment = BatchAugment.from_transforms(recipe, mix=mix, alpha=alpha,
                                               num_classes=info.num_classes)
    stored = in_memory_uint8(dataset)
    return DeviceLoader(stored.images, stored.targets, batch_size=batch_size, train=train,
                        mean=info.mean, std=info.std, augment=augment, device=device, seed=seed,
                        classes=stored.classes)


def _default_device(device) -> torch.device:
    """``device``, or this process's GPU (cuda:$LOCAL_RANK under torchrun), else the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def _why_not_on_device(dataset, name, *, train, augmentation, device) -> str | None:
    """Why the dataset cannot be batched on ``device`` (None: it can)."""
    if train and augmentation == "standard":
        try:
            BatchAugment.from_transforms(_augmentation(name, dataset_info(name).image_size))
        except ValueError as err:
            return f"{name}'s standard augmentation cannot run there ({err})"
    if device.type != "cuda":
        return None  # host memory: the images are there already
    info = dataset_info(name)
    need = len(dataset) * info.in_channels * info.image_size**2  # bytes as uint8
    free, _ = torch.cuda.mem_get_info(device)
    if need > MEMORY_FRACTION * free:
        return (f"its {len(dataset):,} images need {need / 2**20:,.0f} MiB as uint8, more than "
                f"{MEMORY_FRACTION:.0%} of the {free / 2**20:,.0f} MiB free on {device}")
    return None


def _with_transform(dataset: Dataset, transform) -> Dataset:
    """The dataset with ``transform`` applied to every (uint8) image."""
    if isinstance(dataset, InMemoryDataset):
        return InMemoryDataset(dataset.images, dataset.targets, dataset.classes, transform)
    return _Raw(dataset, transform)


def in_memory_uint8(dataset: Dataset, batch_size: int = 500) -> InMemoryDataset:
    """An :class:`InMemoryDataset` (no transform) of a dataset that yields uint8 images (C, H, W).

    For a dataset built with ``transform=to_uint8`` (``in_memory`` wants ``transform=None``, which
    the built-in shapes answer with float images). An InMemoryDataset is returned as it is.
    """
    if isinstance(dataset, InMemoryDataset):
        return dataset
    batches = list(DataLoader(dataset, batch_size=batch_size))
    images = torch.cat([images for images, _ in batches])  # (N, C, H, W)
    if images.dtype != torch.uint8:
        raise ValueError(f"need uint8 images, got {images.dtype}: build the dataset with "
                         "transform=minivision.data.to_uint8 (or pass an InMemoryDataset).")
    labels = torch.cat([labels for _, labels in batches]).tolist()
    return InMemoryDataset(images, labels, getattr(dataset, "classes", None))

"""Decode a dataset once and keep it in memory as uint8 tensors.

CIFAR-10's JPEG copy costs a JPEG decode per image per epoch: on a GPU that, not the model, sets
the speed of small-data lessons (1,000 training images and a 10,000-image test set evaluated
every epoch). 50,000 CIFAR images take 150 MB as uint8, so decode them once:

    test_set = in_memory(get_dataset("cifar10", train=False), transform=to_tensor)

The transform (augmentation included) still runs on every access, on the stored uint8 image, so
the result is the same as with the files: only faster.
"""
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from .datasets import targets_of


class InMemoryDataset(Dataset):
    """Images (N, C, H, W) uint8 and labels (N,), with a transform applied on access.

    Args:
        images: (N, C, H, W) uint8.
        targets: (N,) integer labels.
        classes: the class names (index = label).
        transform: applied to each image (C, H, W) uint8, e.g. ``default_transforms(...)``.
    """

    def __init__(self, images: torch.Tensor, targets, classes=None, transform=None):
        if images.dim() != 4 or images.dtype != torch.uint8:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}."
            )
        self.images = images
        self.targets = [int(t) for t in targets]
        if len(self.targets) != len(images):
            raise ValueError(f"{len(images)} images but {len(self.targets)} targets.")
        self.classes = list(classes) if classes is not None else None
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = self.images[index]  # (C, H, W) uint8
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]


def in_memory(dataset: Dataset, *, transform=None, batch_size: int = 500, num_workers: int = 0,
              progress: bool = False) -> InMemoryDataset:
    """Decode every image of ``dataset`` once and return an :class:`InMemoryDataset`.

    Args:
        dataset: yields (image, label), the image a PIL image or uint8 tensor (C, H, W); its own
            transform must be None (or keep uint8), since the stored images are the raw ones.
        transform: the transform of the returned dataset, applied on every access.
        batch_size, num_workers: of the one pass that decodes the images.
        progress: show a tqdm bar.

    Returns:
        An :class:`InMemoryDataset` with the same order, ``.targets`` and ``.classes``.
    """
    to_uint8 = v2.Compose([v2.ToImage(), v2.ToPureTensor()])
    base = _raw(dataset, to_uint8)
    loader = DataLoader(base, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    if progress:
        from tqdm.auto import tqdm

        loader = tqdm(loader, desc="decoding", unit="batch")
    chunks = [images for images, _ in loader]
    images = torch.cat(chunks) if chunks else torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    if images.dtype != torch.uint8:
        raise ValueError(
            f"the dataset's images decode to {images.dtype}, not uint8: build it with "
            "transform=None (in_memory applies your transform on access instead)."
        )
    return InMemoryDataset(images, targets_of(dataset), getattr(dataset, "classes", None),
                           transform)


class _Raw(Dataset):
    """``dataset`` with ``convert`` applied to each image (its own transform left in place)."""

    def __init__(self, dataset, convert):
        self.dataset, self.convert = dataset, convert

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        image, label = self.dataset[index]
        return self.convert(image), label


def _raw(dataset: Dataset, convert) -> Dataset:
    inner = dataset
    while getattr(inner, "transform", None) is None and hasattr(inner, "dataset"):
        inner = inner.dataset  # a Subset: look at the dataset it wraps
    if getattr(inner, "transform", None) is not None:
        raise ValueError(
            "in_memory stores the raw images: build the dataset with transform=None and pass "
            "your transform to in_memory(..., transform=...)."
        )
    return _Raw(dataset, convert)

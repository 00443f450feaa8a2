"""Datasets by name: the built-in shapes, CIFAR-10/100 and EuroSAT, with an offline path and clear errors.

``get_dataset("cifar10")`` first looks for the ImageFolder copy of CIFAR-10 at
``data_root()/cifar10-jpeg/{train,test}/<class>/*.jpg`` and otherwise uses torchvision's
``CIFAR10``, which downloads the original files (in Colab this just works). ``dataset_info(name)``
gives what a model needs before any image is read: classes, image size, channels, mean and std.
``class_subset`` picks n images per class from the labels alone, so it is instant on ImageFolder.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from .builtin import SHAPE_CLASSES, BuiltinShapes

CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
EUROSAT_CLASSES = [
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and its transforms need to know about a dataset.

    ``mean``/``std`` are per-channel statistics of the training images in [0, 1], for Normalize.
    ``classes`` is None where the names are only known once the files are read (CIFAR-100).
    """

    name: str
    num_classes: int
    image_size: int
    in_channels: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: list[str] | None


# CIFAR-10/100: per-channel mean and std over all training pixels of the original files (the std
# of all pixels, not the often-quoted 0.2023/0.1994/0.2010, which is a mean of per-image stds).
# EuroSAT RGB: the values commonly used for torchvision's EuroSAT (not re-measured here: no copy).
# Built-in: measured on BuiltinShapes(10_000) of each variant (the mean is 1/2 by design: dark and
# light colours mirror each other); tests/test_data.py checks both against a fresh measurement.
DATASETS = {
    "builtin": DatasetInfo(
        "builtin",
        10,
        32,
        3,
        (0.5021, 0.5032, 0.5025),
        (0.3347, 0.3331, 0.3351),
        list(SHAPE_CLASSES),
    ),
    "builtin_distorted": DatasetInfo(
        "builtin_distorted",
        10,
        32,
        3,
        (0.5016, 0.5027, 0.5021),
        (0.3355, 0.3338, 0.3359),
        list(SHAPE_CLASSES),
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        10,
        32,
        3,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        list(CIFAR10_CLASSES),
    ),
    "cifar100": DatasetInfo(
        "cifar100", 100, 32, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), None
    ),
    "eurosat": DatasetInfo(
        "eurosat",
        10,
        64,
        3,
        (0.3444, 0.3803, 0.4078),
        (0.2034, 0.1367, 0.1148),
        list(EUROSAT_CLASSES),
    ),
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says where to put which files."""


def _check_name(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a dataset name (a ``ValueError`` lists the known names)."""
    return _check_name(name)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where datasets live: ``root`` if given, else ``$MINIVISION_DATA``, else ``~/.cache/minivision/data``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("MINIVISION_DATA"):
        return Path(os.environ["MINIVISION_DATA"]).expanduser()
    return Path.home() / ".cache" / "minivision" / "data"


def targets_of(dataset: Dataset) -> list[int]:
    """The labels of a dataset without loading its images (``.targets``, through ``Subset``s)."""
    if hasattr(dataset, "targets"):
        return [int(t) for t in dataset.targets]
    if isinstance(dataset, Subset):
        parent = targets_of(dataset.dataset)
        return [parent[i] for i in dataset.indices]
    raise TypeError(
        f"{type(dataset).__name__} has no .targets; give it one (a list of int labels) or wrap it in a Subset "
        "of a dataset that has one."
    )


class LabeledSubset(Subset):
    """A ``Subset`` that keeps ``.targets`` and ``.classes``, optionally with labels renumbered.

    Args:
        dataset: the parent dataset, yielding (image, label).
        indices: positions in the parent.
        label_map: {old label: new label}, applied to every item; None keeps the labels.
        classes: the class names of this subset (in new-label order).
    """

    def __init__(
        self, dataset: Dataset, indices, *, label_map: dict[int, int] | None = None, classes=None
    ):
        super().__init__(dataset, list(indices))
        self.label_map = label_map
        parent = targets_of(dataset)
        self.targets = [self._map(parent[i]) for i in self.indices]
        self.classes = classes

    def _map(self, label: int) -> int:
        return int(label) if self.label_map is None else self.label_map[int(label)]

    def __getitem__(self, index: int):
        image, label = self.dataset[self.indices[index]]
        return image, self._map(label)

    def __getitems__(self, indices: list[int]) -> list:
        # DataLoader fetches whole batches through this; route it through __getitem__'s relabelling
        return [self[i] for i in indices]


def class_subset(
    dataset: Dataset, per_class: int, *, seed: int = 0, classes=None, remap_labels: bool = False
) -> LabeledSubset:
    """``per_class`` images of each class (or of the classes listed), chosen at random but reproducibly.

    Only the labels are read (``.targets``), never the images.

    Args:
        dataset: a dataset with ``.targets`` (or a ``Subset`` of one).
        per_class: images per class; every chosen class must have at least that many.
        seed: which images are chosen.
        classes: labels (ints) or class names to keep; None keeps all classes.
        remap_labels: renumber the kept classes 0..k-1 in the order given (for a new head, e.g.
            fine-tuning on 4 CIFAR-10 classes after pretraining on the other 6).

    Returns:
        A ``Subset`` with ``.targets`` and ``.classes``; its indices are sorted by class, then
        randomly within each class.
    """
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}.")
    targets = torch.tensor(targets_of(dataset))
    names = list(getattr(dataset, "classes", None) or [])
    if classes is None:
        labels = sorted(set(targets.tolist()))
    else:
        labels = [names.index(c) if isinstance(c, str) else int(c) for c in classes]
    generator = torch.Generator().manual_seed(seed)
    indices = []
    for label in labels:
        pool = torch.nonzero(targets == label).flatten()  # (n_c,)
        if len(pool) < per_class:
            raise ValueError(
                f"class {label} has {len(pool)} images, fewer than per_class={per_class}."
            )
        chosen = pool[torch.randperm(len(pool), generator=generator)[:per_class]]
        indices += chosen.tolist()
    label_map = {old: new for new, old in enumerate(labels)} if remap_labels else None
    # with renumbered labels, the names follow the new order; otherwise label l keeps names[l]
    kept = [names[label] for label in labels] if remap_labels else names
    return LabeledSubset(dataset, indices, label_map=label_map, classes=kept or None)


def _split(
    dataset: Dataset, *, train: bool, test_fraction: float = 0.2, seed: int = 0
) -> LabeledSubset:
    """A deterministic stratified train/test split of a dataset that has no official one."""
    targets = torch.tensor(targets_of(dataset))
    generator = torch.Generator().manual_seed(seed)
    indices = []
    for label in sorted(set(targets.tolist())):
        pool = torch.nonzero(targets == label).flatten()
        pool = pool[torch.randperm(len(pool), generator=generator)]  # (n_c,)
        n_test = round(test_fraction * len(pool))
        indices += (pool[n_test:] if train else pool[:n_test]).tolist()
    return LabeledSubset(dataset, sorted(indices), classes=list(dataset.classes))


def _not_found(name: str, root: Path, expected: str, error: Exception) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"dataset {name!r} was not found under {root} nor downloaded ({type(error).__name__}: "
        f"{error}).\nPut the files here:\n{expected}\nor pass root=... / set MINIVISION_DATA to the folder "
        "holding them. With internet (e.g. in Colab), download=True fetches them automatically."
    )


def _cifar10(root: Path, *, train: bool, transform, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR10, ImageFolder

    split = "train" if train else "test"
    folder = root / "cifar10-jpeg" / split
    if folder.is_dir():
        dataset = ImageFolder(str(folder), transform=transform)
        if dataset.classes != CIFAR10_CLASSES:
            raise ValueError(
                f"{folder} has class folders {dataset.classes}; expected {CIFAR10_CLASSES}."
            )
        return dataset
    expected = (
        f"  {root / 'cifar10-jpeg' / split}/<class>/*.jpg   (ImageFolder copy; class folders "
        f"{', '.join(CIFAR10_CLASSES)})\n  or {root / 'cifar-10-batches-py'}/   (torchvision's CIFAR10, "
        "from cifar-10-python.tar.gz)"
    )
    try:
        return CIFAR10(str(root), train=train, transform=transform, download=download)
    except (RuntimeError, OSError) as error:
        raise _not_found("cifar10", root, expected, error) from error


def _cifar100(root: Path, *, train: bool, transform, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR100

    expected = (
        f"  {root / 'cifar-100-python'}/   (torchvision's CIFAR100, from cifar-100-python.tar.gz)"
    )
    try:
        return CIFAR100(str(root), train=train, transform=transform, download=download)
    except (RuntimeError, OSError) as error:
        raise _not_found("cifar100", root, expected, error) from error


def _eurosat(root: Path, *, train: bool, transform, download: bool) -> Dataset:
    from torchvision.datasets import EuroSAT

    expected = (
        f"  {root / 'eurosat' / '2750'}/<class>/*.jpg   (torchvision's EuroSAT RGB, from EuroSAT.zip; "
        f"class folders {', '.join(EUROSAT_CLASSES)})"
    )
    try:
        dataset = EuroSAT(str(root), transform=transform, download=download)
    except (RuntimeError, OSError) as error:
        raise _not_found("eurosat", root, expected, error) from error
    return _split(dataset, train=train)  # no official split: a seeded, stratified 80/20 one


def get_dataset(
    name: str,
    *,
    train: bool = True,
    root=None,
    transform=None,
    download: bool = True,
    num_samples: int | None = None,
) -> Dataset:
    """A dataset by name: "builtin", "builtin_distorted", "cifar10", "cifar100" or "eurosat".

    Args:
        name: see ``DATASETS``.
        train: the training split (else the test split).
        root: the data folder (default: :func:`data_root`).
        transform: applied to each image: a PIL image for the files on disk, a uint8 tensor
            (3, 32, 32) for the built-in data (the v2 pipelines of ``default_transforms`` take both).
        download: let torchvision download missing files (needs internet).
        num_samples: built-in data: the number of images (default 10,000 train / 2,000 test).
            Real data: a class-balanced subset of num_samples // num_classes images per class.

    Returns:
        A ``Dataset`` of (image, label) with ``.targets`` and ``.classes``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        DatasetNotFoundError: files missing and not downloadable (the message says where to put them).
    """
    info = _check_name(name)
    if name.startswith("builtin"):
        size = num_samples if num_samples is not None else (10_000 if train else 2_000)
        variant = "distorted" if name == "builtin_distorted" else "plain"
        return BuiltinShapes(size, train=train, variant=variant, transform=transform)
    loaders = {"cifar10": _cifar10, "cifar100": _cifar100, "eurosat": _eurosat}
    dataset = loaders[name](data_root(root), train=train, transform=transform, download=download)
    if num_samples is not None:
        dataset = class_subset(dataset, max(num_samples // info.num_classes, 1))
    return dataset

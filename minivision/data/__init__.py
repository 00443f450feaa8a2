"""Data: the built-in datasets, CIFAR-10/100 and EuroSAT by name, transforms, samplers and loaders
(on the host, or on the device: ``device_loader``)."""

from .batch_augment import BatchAugment
from .builtin import MOTION_CLASSES, SHAPE_CLASSES, BuiltinMotionClips, BuiltinShapes
from .cluttered import ClutteredShapes, Placement
from .datasets import (
    DATASETS,
    DatasetInfo,
    DatasetNotFoundError,
    LabeledSubset,
    class_subset,
    data_root,
    dataset_info,
    get_dataset,
    targets_of,
)
from .device import DeviceLoader, device_loader, in_memory_uint8, to_uint8
from .memory import InMemoryDataset, in_memory
from .samplers import SameClassBatchSampler, make_loader
from .transforms import MixCollate, cutmix_mixup_collate, default_transforms

__all__ = [
    "DATASETS",
    "MOTION_CLASSES",
    "SHAPE_CLASSES",
    "BatchAugment",
    "BuiltinMotionClips",
    "BuiltinShapes",
    "ClutteredShapes",
    "DatasetInfo",
    "DatasetNotFoundError",
    "DeviceLoader",
    "InMemoryDataset",
    "LabeledSubset",
    "MixCollate",
    "Placement",
    "SameClassBatchSampler",
    "class_subset",
    "cutmix_mixup_collate",
    "data_root",
    "dataset_info",
    "default_transforms",
    "device_loader",
    "get_dataset",
    "in_memory",
    "in_memory_uint8",
    "make_loader",
    "targets_of",
    "to_uint8",
]

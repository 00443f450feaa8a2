"""in_memory: the decoded copy gives exactly what the dataset on disk gives."""
import pytest
import torch
from PIL import Image

from minivision.data import BuiltinShapes, InMemoryDataset, class_subset, default_transforms, in_memory


class PILDataset(torch.utils.data.Dataset):
    """Like torchvision's ImageFolder: PIL images, a transform, .targets and .classes."""

    def __init__(self, n=12, transform=None):
        self.shapes = BuiltinShapes(n, seed=3)
        self.targets, self.classes, self.transform = self.shapes.targets, self.shapes.classes, transform

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, i):
        image = Image.fromarray(self.shapes.render(i).permute(1, 2, 0).numpy())
        return (self.transform(image) if self.transform else image), self.targets[i]


def test_in_memory_items_equal_the_datasets_items():
    transform = default_transforms("builtin", train=False)
    memory = in_memory(PILDataset(), transform=transform, batch_size=5)
    reference = PILDataset(transform=transform)
    assert len(memory) == len(reference) and memory.classes == reference.classes
    for i in range(len(reference)):
        image, label = memory[i]
        expected, expected_label = reference[i]
        assert label == expected_label
        torch.testing.assert_close(image, expected, rtol=0, atol=0)


def test_in_memory_keeps_a_subsets_order_and_labels():
    subset = class_subset(PILDataset(40), per_class=2, seed=1)
    memory = in_memory(subset)
    assert memory.targets == subset.targets
    first = torch.as_tensor(__import__("numpy").array(subset[0][0])).permute(2, 0, 1)
    assert torch.equal(memory[0][0], first) and memory.images.dtype == torch.uint8


def test_in_memory_refuses_a_dataset_with_a_transform():
    with pytest.raises(ValueError, match="transform=None"):
        in_memory(PILDataset(transform=default_transforms("builtin", train=False)))
    with pytest.raises(ValueError, match="transform=None"):  # also through a Subset
        in_memory(class_subset(PILDataset(20, transform=lambda x: x), per_class=1))


def test_in_memory_dataset_checks_its_inputs():
    with pytest.raises(ValueError, match="uint8"):
        InMemoryDataset(torch.zeros(2, 3, 4, 4), [0, 1])
    with pytest.raises(ValueError, match="targets"):
        InMemoryDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), [0])

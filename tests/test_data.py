"""Tests for minivision.data: the built-in datasets, the registry, subsets, samplers, collate, loaders."""

import math
import time
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from minivision.data import (
    DATASETS,
    BuiltinMotionClips,
    BuiltinShapes,
    DatasetNotFoundError,
    MixCollate,
    SameClassBatchSampler,
    class_subset,
    cutmix_mixup_collate,
    data_root,
    dataset_info,
    default_transforms,
    get_dataset,
    make_loader,
)
from minivision.data import builtin

CIFAR10_NAMES = [
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


# ----------------------------------------------------------------------------- built-in shapes


def test_shapes_deterministic_per_index():
    a, b = BuiltinShapes(50, seed=3), BuiltinShapes(50, seed=3)
    torch.testing.assert_close(a[7][0], a[7][0], rtol=0, atol=0)
    torch.testing.assert_close(a[7][0], b[7][0], rtol=0, atol=0)  # a second object, same stream
    # an item does not depend on the dataset's length or on which items were drawn before
    torch.testing.assert_close(BuiltinShapes(1000, seed=3)[7][0], a[7][0], rtol=0, atol=0)
    assert not torch.equal(a[7][0], BuiltinShapes(50, seed=4)[7][0])  # another seed, another image
    assert not torch.equal(
        a[7][0], BuiltinShapes(50, seed=3, train=False)[7][0]
    )  # test stream differs
    assert not torch.equal(a[7][0], a[17][0])  # same class, different image


def test_shapes_labels_balanced_and_match_items():
    ds = BuiltinShapes(1003)
    counts = Counter(ds.targets)
    assert sorted(counts) == list(range(10))
    assert counts[0] == counts[1] == counts[2] == 101 and all(
        counts[c] == 100 for c in range(3, 10)
    )
    assert [ds[i][1] for i in range(25)] == [i % 10 for i in range(25)]
    assert BuiltinShapes(20, seed=9).targets == ds.targets[:20]  # labels do not depend on the seed
    assert ds.classes == builtin.SHAPE_CLASSES and len(ds.classes) == 10


def test_shapes_shapes_dtypes_ranges_and_transform_input():
    x, y = BuiltinShapes(10)[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and isinstance(y, int)
    assert 0.0 <= x.min() and x.max() <= 1.0
    seen = []
    ds = BuiltinShapes(10, transform=lambda image: seen.append(image) or image)
    raw, _ = ds[3]
    assert seen[0].dtype == torch.uint8 and seen[0].shape == (3, 32, 32)
    torch.testing.assert_close(
        raw.float() / 255, x, rtol=0, atol=0
    )  # the same image, before scaling


def test_shape_areas_match_geometry():
    # Each shape drawn with the anti-aliased ramp must cover its analytic area (in pixels).
    radius = 10.0
    areas = {
        "circle": math.pi * (0.8 * radius) ** 2,
        "square": (1.36 * radius) ** 2,
        "ring": math.pi * ((0.9 * radius) ** 2 - (0.5 * radius) ** 2),
        "bar": (1.9 * radius) * (0.44 * radius),
        "frame": (1.6 * radius) ** 2 - (0.9 * radius) ** 2,
        "triangle": 3 * math.sqrt(3) / 4 * (0.95 * radius) ** 2,
    }
    for name, area in areas.items():
        image = np.zeros((3, 32, 32), dtype=np.float32)
        builtin._draw(
            image, name, (16.0, 16.0), builtin._rotation(0.4) * radius, np.ones(3, np.float32)
        )
        assert image[0].sum() == pytest.approx(area, rel=0.02), name


def test_distorted_variant_differs_and_keeps_labels():
    plain, distorted = BuiltinShapes(40), BuiltinShapes(40, variant="distorted")
    assert distorted.targets == plain.targets
    assert [distorted[i][1] for i in range(10)] == list(range(10))
    assert sum(not torch.equal(plain[i][0], distorted[i][0]) for i in range(10)) == 10
    with pytest.raises(ValueError, match="variant"):
        BuiltinShapes(10, variant="warped")


def test_builtin_mean_std_match_registry():
    # By design dark and light colours mirror each other (x -> 1 - x) and the coin that picks the
    # shape's colour is fair, so every pixel has mean 1/2; the registry's measured constants must
    # agree with that, and with a fresh measurement on another seed.
    for name in ("builtin", "builtin_distorted"):
        info = dataset_info(name)
        torch.testing.assert_close(
            torch.tensor(info.mean), torch.full((3,), 0.5), atol=0.005, rtol=0
        )
    x = torch.stack([BuiltinShapes(400, seed=1)[i][0] for i in range(400)])  # (400, 3, 32, 32)
    mean = torch.tensor(dataset_info("builtin").mean)[:, None, None]  # (3, 1, 1)
    var = torch.tensor(dataset_info("builtin").std) ** 2
    # per-image first and second moments: images (not pixels) are the independent units
    for moment, expected in (
        (x.mean(dim=(2, 3)), mean.flatten()),
        (((x - mean) ** 2).mean(dim=(2, 3)), var),
    ):
        standard_error = moment.std(0) / 20  # (3,), sqrt(400) = 20
        deviation = (moment.mean(0) - expected).abs()
        assert (deviation < 4 * standard_error).all(), (deviation, standard_error)


# ----------------------------------------------------------------------------- motion clips


def test_motion_clips_shape_range_determinism():
    ds = BuiltinMotionClips(20, frames=6)
    clip, label = ds[13]
    assert clip.shape == (6, 3, 32, 32) and clip.dtype == torch.float32 and label == 3
    assert 0.0 <= clip.min() and clip.max() <= 1.0
    torch.testing.assert_close(clip, BuiltinMotionClips(20, frames=6)[13][0], rtol=0, atol=0)
    assert not torch.equal(clip, BuiltinMotionClips(20, frames=6, seed=1)[13][0])
    assert Counter(ds.targets) == Counter({c: 2 for c in range(10)})


def test_motion_single_frames_do_not_reveal_the_class():
    # Designed property: every frame has the same distribution in every class. Check the simple
    # statistics a single-frame classifier would use first, per frame (0 and 1, since flicker
    # differs on odd frames): mean colour, contrast (pixel std), the darkest pixel, and the object's
    # area (pixels at least 0.15 away from the median colour in every channel: the background covers
    # most of the frame and the object differs from it by 0.3-0.7 per channel).
    # Each class mean must lie within 4.5 standard errors of the mean over all classes.
    per_class = 40
    ds = BuiltinMotionClips(10 * per_class, frames=2, seed=5)
    clips = torch.stack([ds[i][0] for i in range(len(ds))])  # (400, 2, 3, 32, 32)
    labels = torch.tensor(ds.targets)
    for t in (0, 1):
        frame = clips[:, t].flatten(1)  # (400, 3072)
        background = clips[:, t].flatten(2).median(2).values[:, :, None]  # (400, 3, 1)
        area = ((clips[:, t].flatten(2) - background).abs() > 0.15).all(1).sum(1).float()  # (400,)
        stats = {
            "mean": frame.mean(1),
            "std": frame.std(1),
            "min": frame.min(1).values,
            "area": area,
        }
        for name, values in stats.items():
            grand, se = values.mean(), values.std() / math.sqrt(per_class)
            for c in range(10):
                deviation = (values[labels == c].mean() - grand).abs() / se
                assert deviation < 4.5, (t, name, ds.classes[c], float(deviation))


def _best_shift(a: torch.Tensor, b: torch.Tensor, reach: int = 4) -> tuple[int, int]:
    """The circular shift (dx, dy) that best maps frame a onto frame b (least squared error)."""
    shifts = [(dx, dy) for dx in range(-reach, reach + 1) for dy in range(-reach, reach + 1)]
    errors = [((torch.roll(a, (dy, dx), dims=(-2, -1)) - b) ** 2).sum() for dx, dy in shifts]
    return shifts[int(torch.stack(errors).argmin())]


def test_motion_differs_per_class():
    ds = BuiltinMotionClips(40, frames=4, seed=2)
    expected = {"static": (0, 0), "right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}
    for i in range(40):
        name = ds.classes[ds.targets[i]]
        clip = ds[i][0]  # (4, 3, 32, 32)
        if name in expected:  # the measured motion's direction is the class's
            shifts = (
                torch.tensor([_best_shift(clip[t], clip[t + 1]) for t in range(3)]).float().mean(0)
            )
            assert torch.equal(torch.sign(shifts.round()), torch.tensor(expected[name]).float()), (
                name,
                shifts,
            )
        else:  # rotation, size and colour changes also change the frames beyond the pixel noise
            change = (clip[1:] - clip[:-1]).abs().mean()
            assert change > 0.01, (name, float(change))


# ----------------------------------------------------------------------------- registry and files


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIVISION_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("MINIVISION_DATA")
    assert data_root() == data_root().home() / ".cache" / "minivision" / "data"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        get_dataset("imagenet")
    for name in ("builtin", "builtin_distorted", "cifar10", "cifar100", "eurosat"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="cifar10"):
        dataset_info("mnist")


def test_dataset_info():
    assert dataset_info("cifar10").classes == CIFAR10_NAMES
    assert dataset_info("cifar100").num_classes == 100 and dataset_info("eurosat").image_size == 64
    assert set(DATASETS) >= {"builtin", "builtin_distorted", "cifar10", "cifar100", "eurosat"}


def test_get_dataset_builtin():
    ds = get_dataset("builtin_distorted", train=False, num_samples=30)
    assert len(ds) == 30 and ds.variant == "distorted" and not ds.train


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "eurosat"])
def test_offline_missing_dataset_names_the_path(name, tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset(name, root=tmp_path, download=False)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path) in str(info.value) and "download" in str(info.value)
    if name == "cifar10":
        assert "cifar10-jpeg" in str(info.value)


def test_cifar10_imagefolder_copy():
    root = data_root()
    if not (root / "cifar10-jpeg" / "train").is_dir():
        pytest.skip(f"no CIFAR-10 JPEG copy at {root / 'cifar10-jpeg'} (run `make data`)")
    train, test = get_dataset("cifar10", train=True), get_dataset("cifar10", train=False)
    assert (len(train), len(test)) == (50_000, 10_000)
    assert train.classes == CIFAR10_NAMES and test.classes == CIFAR10_NAMES
    assert Counter(train.targets) == Counter({c: 5000 for c in range(10)})
    image, label = test[0]
    assert isinstance(image, Image.Image) and image.size == (32, 32) and label == 0
    start = time.perf_counter()
    subset = class_subset(train, 100, classes=["cat", "dog"], remap_labels=True)
    assert time.perf_counter() - start < 2.0  # labels only, no image is decoded
    assert Counter(subset.targets) == Counter({0: 100, 1: 100}) and subset.classes == ["cat", "dog"]
    path, original = train.imgs[subset.indices[0]]
    assert (
        "/cat/" in path and original == 3 and subset[0][1] == 0
    )  # cat: CIFAR label 3, new label 0


# ----------------------------------------------------------------------------- subsets


def test_class_subset_counts_determinism_and_remap():
    ds = BuiltinShapes(200)
    sub = class_subset(ds, 7, seed=1)
    assert len(sub) == 70 and Counter(sub.targets) == Counter({c: 7 for c in range(10)})
    assert all(ds.targets[i] == t for i, t in zip(sub.indices, sub.targets))
    assert class_subset(ds, 7, seed=1).indices == sub.indices
    assert class_subset(ds, 7, seed=2).indices != sub.indices
    few = class_subset(ds, 5, classes=[7, "square"], remap_labels=True)
    assert Counter(few.targets) == Counter({0: 5, 1: 5}) and few.classes == ["half_disk", "square"]
    for i in range(len(few)):
        assert few[i][1] == few.targets[i] == {7: 0, 1: 1}[ds.targets[few.indices[i]]]
    kept = class_subset(ds, 5, classes=[3])
    assert set(kept.targets) == {3} and kept.classes == ds.classes
    with pytest.raises(ValueError, match="fewer"):
        class_subset(ds, 21)


# ----------------------------------------------------------------------------- samplers and loaders


def test_same_class_batch_sampler():
    labels = [0] * 10 + [1] * 7 + [2] * 13
    sampler = SameClassBatchSampler(labels, 4, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 2 + 1 + 3
    assert all(len(b) == 4 and len({labels[i] for i in b}) == 1 for b in batches)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) == 24
    assert list(SameClassBatchSampler(labels, 4, seed=3)) == batches  # same seed, same epoch
    sampler.set_epoch(1)
    assert list(sampler) != batches
    keep_all = SameClassBatchSampler(labels, 4, drop_last=False, shuffle=False)
    assert len(keep_all) == 3 + 2 + 4 and sorted(i for b in keep_all for i in b) == list(range(30))
    with pytest.raises(ValueError, match="batch_size"):
        SameClassBatchSampler(labels, 0)


def test_make_loader_validates_and_is_seeded():
    ds = BuiltinShapes(30)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        make_loader(ds, 0, train=True)
    first = [y.tolist() for _, y in make_loader(ds, 8, train=True, seed=5)]
    again = [y.tolist() for _, y in make_loader(ds, 8, train=True, seed=5)]
    assert first == again and len(first) == 3  # 30 // 8, last short batch dropped
    test = [y.tolist() for _, y in make_loader(ds, 8, train=False)]
    assert sum(test, []) == ds.targets  # evaluation: every item, in order


@pytest.mark.parametrize("kind", ["cutmix", "mixup", "both"])
def test_mix_collate_soft_targets(kind):
    torch.manual_seed(0)
    ds = BuiltinShapes(16, transform=default_transforms("builtin", train=False))
    images, targets = next(
        iter(make_loader(ds, 8, train=True, collate_fn=cutmix_mixup_collate(kind, 10)))
    )
    assert images.shape == (8, 3, 32, 32) and targets.shape == (8, 10)
    torch.testing.assert_close(targets.sum(1), torch.ones(8))
    assert (targets >= 0).all()
    with pytest.raises(ValueError, match="kind"):
        MixCollate("mosaic", 10)


def test_mixup_matches_its_formula():
    # x = lam x_i + (1 - lam) x_j and y = lam y_i + (1 - lam) y_j with j the batch rolled by one.
    torch.manual_seed(1)
    x = torch.rand(4, 3, 8, 8)
    y = torch.tensor([0, 1, 2, 3])
    images, targets = MixCollate("mixup", 4)([(x[i], int(y[i])) for i in range(4)])
    lam = targets[0, 0]
    torch.testing.assert_close(images, lam * x + (1 - lam) * x.roll(1, 0))
    expected = lam * torch.eye(4) + (1 - lam) * torch.eye(4).roll(1, 0)
    torch.testing.assert_close(targets, expected)


# ----------------------------------------------------------------------------- transforms


def test_default_transforms_normalise_pil_and_tensor():
    info = dataset_info("cifar10")
    pixels = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    reference = (pixels.float() / 255 - torch.tensor(info.mean)[:, None, None]) / torch.tensor(
        info.std
    )[:, None, None]
    pipeline = default_transforms("cifar10", train=False)
    torch.testing.assert_close(pipeline(pixels), reference)
    pil = Image.fromarray(pixels.permute(1, 2, 0).numpy())
    torch.testing.assert_close(pipeline(pil), reference)
    out = default_transforms("cifar10", train=True)(pil)
    assert type(out) is torch.Tensor and out.shape == (3, 32, 32)
    eurosat = Image.new("RGB", (64, 64), (10, 200, 30))
    assert default_transforms("eurosat", train=False, image_size=32)(eurosat).shape == (3, 32, 32)
    assert default_transforms("eurosat", train=True, image_size=48)(eurosat).shape == (3, 48, 48)
    with pytest.raises(ValueError, match="augmentation"):
        default_transforms("builtin", train=True, augmentation="heavy")

"""Data on the device: per-sample batch augmentation equals the per-image transforms for the same
draws, every sample draws its own, seeded runs repeat, resume is exact, and too-large data falls
back to the DataLoader."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from minivision import VisionTransformer
from minivision.data import (BatchAugment, DeviceLoader, InMemoryDataset, dataset_info,
                             default_transforms, device_loader, get_dataset, make_loader,
                             to_uint8)
from minivision.data.batch_augment import draw_params, mix_batch
from minivision.training import evaluate, fit, load_checkpoint


def shapes(n=16):
    """n built-in images (N, 3, 32, 32) uint8 and their labels."""
    data = get_dataset("builtin", num_samples=n, transform=to_uint8)
    return torch.stack([data[i][0] for i in range(n)]), data.targets


def per_image(name, image, draws):
    """``default_transforms(name, train=True)`` on one image, its random draws forced."""
    pipeline = default_transforms(name, train=True)
    for t in pipeline.transforms:
        if isinstance(t, v2.RandomCrop):
            make = t.make_params
            t.make_params = lambda inputs, make=make: {**make(inputs), "top": int(draws["top"]),
                                                       "left": int(draws["left"])}
        elif isinstance(t, v2.RandomHorizontalFlip):
            t.p = float(draws["hflip"])  # p=1 always flips, p=0 never
        elif isinstance(t, v2.RandomVerticalFlip):
            t.p = float(draws["vflip"])
    return pipeline(image)


@pytest.mark.parametrize("name", ["cifar10", "builtin"])  # crop + h-flip; h- and v-flips
def test_batch_augmentation_equals_the_per_image_transforms(name):
    images, _ = shapes()
    # the labels say which image each sample is
    loader = device_loader(InMemoryDataset(images, list(range(16))), name, 16, train=True,
                           device="cpu", seed=3)
    x, index = next(iter(loader))  # (16, 3, 32, 32) float, (16,)
    draws = draw_params(np.random.default_rng([3, 0, 0, 0]), 16, 32, loader.augment)
    assert draws["hflip"].any() and not draws["hflip"].all()  # both cases are checked
    for i, k in enumerate(index.tolist()):
        expected = per_image(name, images[k], {key: value[i] for key, value in draws.items()})
        torch.testing.assert_close(x[i], expected, rtol=0, atol=0)


def test_cutmix_and_mixup_equal_v2_on_each_pair():
    B, K, S = 12, 5, 8
    images = torch.randn(B, 3, S, S)
    labels = torch.randint(0, K, (B,))
    aug = BatchAugment(mix="both", num_classes=K)
    draws = draw_params(np.random.default_rng(4), B, S, aug)
    assert draws["cutmix"].any() and not draws["cutmix"].all()  # both kinds are checked
    params = {k: torch.from_numpy(v).float() if v.dtype == np.float64 else torch.from_numpy(v)
              for k, v in draws.items()}
    mixed, targets = mix_batch(images, labels, params, K)
    for i in range(B):
        j = int(draws["partner"][i])
        if draws["cutmix"][i]:
            ref = v2.CutMix(num_classes=K)
            ref.make_params = lambda _, i=i: {"box": tuple(int(c) for c in draws["box"][i]),
                                              "lam_adjusted": float(draws["lam"][i])}
        else:
            ref = v2.MixUp(num_classes=K)
            ref.make_params = lambda _, i=i: {"lam": float(draws["lam"][i])}
        # v2 pairs sample 0 of a batch with sample 1 (roll by one): the pair (i, partner)
        pair, pair_targets = ref(images[[i, j]], labels[[i, j]])
        torch.testing.assert_close(mixed[i], pair[0], rtol=0, atol=0)
        torch.testing.assert_close(targets[i], pair_targets[0], rtol=0, atol=0)
    x1, y1, x2, y2 = draws["box"].T
    cut = draws["cutmix"]
    assert np.allclose(draws["lam"][cut], 1 - ((x2 - x1) * (y2 - y1) / S**2)[cut])


def test_every_sample_of_a_batch_draws_its_own_parameters():
    images, _ = shapes(1)
    copies = InMemoryDataset(images.repeat(64, 1, 1, 1), [0] * 32 + [1] * 32)
    x, _ = next(iter(device_loader(copies, "cifar10", 64, train=True, device="cpu")))
    assert len(torch.unique(x, dim=0)) > 32  # one image, 64 crops and flips: one draw each
    x, _ = next(iter(device_loader(copies, "builtin", 64, train=True, device="cpu")))
    assert len(torch.unique(x, dim=0)) == 4  # as it is, mirrored, upside down, or both
    y = next(iter(device_loader(copies, "cifar10", 64, train=True, device="cpu",
                                augmentation="none", mix="mixup")))[1]  # (64, 10)
    assert len(torch.unique(y.max(dim=1).values)) > 16  # a MixUp weight per sample


def test_seeded_loaders_repeat_exactly_and_epochs_differ():
    images, targets = shapes()

    def epochs(seed):
        loader = device_loader(InMemoryDataset(images, targets), "cifar10", 4, train=True,
                               device="cpu", mix="both", seed=seed)
        return [[torch.cat([x.flatten(), y.flatten()]) for x, y in loader] for _ in range(2)]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert all(torch.equal(a, b) for a, b in zip(first[0] + first[1], again[0] + again[1]))
    assert not torch.equal(first[0][0], first[1][0])  # the next epoch: other order, other draws
    assert not torch.equal(first[0][0], other[0][0])
    copies = device_loader(InMemoryDataset(images[:1].repeat(8, 1, 1, 1), [0] * 8), "cifar10", 8,
                           train=True, device="cpu")
    (epoch0, _), (epoch1, _) = next(iter(copies)), next(iter(copies))
    assert not torch.equal(epoch0, epoch1)  # one image 8 times: only the draws can differ


def tiny_vit():
    torch.manual_seed(123)  # the initial weights
    return VisionTransformer(image_size=32, patch_size=16, embed_dim=32, depth=1, num_heads=2,
                             num_classes=10, dropout=0.1)  # dropout: the global RNG matters too


class InterruptingLoader(DeviceLoader):
    """A DeviceLoader that raises KeyboardInterrupt (Ctrl-C) while making batch ``at``."""

    at, made = None, 0

    def _batch(self, index, epoch, b):
        InterruptingLoader.made += 1
        if self.at is not None and InterruptingLoader.made > self.at:
            raise KeyboardInterrupt
        return super()._batch(index, epoch, b)


def _run(loader, out=None, **kw):
    model = tiny_vit()
    history = fit(model, loader, epochs=3, lr=2e-3, warmup_epochs=0.5, out=out, progress=False,
                  seed=7, **kw)
    return model, history


def test_resume_mid_epoch_is_bitwise_exact_with_data_on_the_device(tmp_path):
    images, targets = shapes(48)
    loader = device_loader(InMemoryDataset(images, targets), "cifar10", 8, train=True,
                           device="cpu", mix="both")  # crop, flip, CutMix / MixUp: 6 steps
    reference, ref_history = _run(loader)
    again, _ = _run(loader)
    for a, b in zip(reference.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)  # the same seed, the same run
    info = dataset_info("cifar10")
    cut = InterruptingLoader(images, targets, batch_size=8, train=True, mean=info.mean,
                             std=info.std, augment=loader.augment)
    cut.at, InterruptingLoader.made = 9, 0  # Ctrl-C while making batch 4 of epoch 2
    with pytest.raises(KeyboardInterrupt):
        _run(cut, str(tmp_path), checkpoint_every=4)
    assert load_checkpoint(tmp_path / "last.pt")["position"]["step"] == 9
    resumed, history = _run(loader, resume=str(tmp_path / "last.pt"))
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resuming"
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in ref_history]


def test_without_augmentation_it_trains_and_evaluates_like_the_dataloader():
    images, targets = shapes(48)
    host = InMemoryDataset(images, targets, transform=default_transforms("cifar10", train=False))
    device = device_loader(host, "cifar10", 8, train=True, device="cpu", augmentation="none")
    a, b = tiny_vit(), tiny_vit()
    fit(a, make_loader(host, 8, train=True), epochs=2, progress=False, seed=5)
    fit(b, device, epochs=2, progress=False, seed=5)
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)  # the same order of batches, the same normalised images
    test = device_loader(host, "cifar10", 10, train=False, device="cpu")
    assert len(test) == 5 and evaluate(b, test) == evaluate(b, DataLoader(host, batch_size=10))


def test_too_large_for_the_gpu_falls_back_with_a_one_line_warning(monkeypatch):
    images, targets = shapes(64)  # 196,608 bytes as uint8
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (300_000, 8 * 2**30))
    with pytest.warns(UserWarning, match=r"need 0 MiB .* than 50% of the 0 MiB free on cuda") \
            as caught:
        loader = device_loader(InMemoryDataset(images, targets), "cifar10", 16, train=True,
                               device="cuda", mix="cutmix")
    assert "\n" not in str(caught[0].message)
    assert isinstance(loader, DataLoader)  # the per-image transforms on the host
    x, y = next(iter(loader))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (16, 10)


def test_an_augmentation_without_a_batch_version_falls_back():
    data = InMemoryDataset(torch.zeros(8, 3, 64, 64, dtype=torch.uint8), [0, 1] * 4)
    with pytest.warns(UserWarning, match="RandomResizedCrop"):  # EuroSAT's
        assert isinstance(device_loader(data, "eurosat", 4, train=True), DataLoader)


def test_cli_flag_and_default():
    from minivision.training.cli import build_run, parse_args

    assert parse_args([])[0].data_on_device is None  # on for CUDA, off elsewhere
    run, config = parse_args(["--data-on-device", "--train-samples", "20", "--test-samples",
                              "10", "--batch-size", "8", "--device", "cpu"])
    _, train, test = build_run(run, config)
    assert isinstance(train, DeviceLoader) and isinstance(test, DeviceLoader)
    run, config = parse_args(["--no-data-on-device", "--train-samples", "20"])
    assert isinstance(build_run(run, config)[1], DataLoader)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_batches_equal_the_cpus():
    images, targets = shapes(64)
    data = InMemoryDataset(images, targets)
    cpu = device_loader(data, "cifar10", 16, train=True, device="cpu", mix="both")
    cuda = device_loader(data, "cifar10", 16, train=True, device="cuda", mix="both")
    assert isinstance(cuda, DeviceLoader) and cuda.images.is_cuda  # it fits: no fallback
    for (x, y), (x_cuda, y_cuda) in zip(cpu, cuda, strict=True):
        torch.testing.assert_close(x_cuda.cpu(), x, rtol=0, atol=1e-6)  # the same draws
        torch.testing.assert_close(y_cuda.cpu(), y, rtol=0, atol=1e-6)

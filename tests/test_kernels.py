"""Kernels and feature maps (lesson 01) on any conv net: torchvision's ResNet-18, a Sequential."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

from minivision.analysis import (  # noqa: E402
    conv_layers,
    feature_maps,
    kernel_magnitudes,
    plot_feature_maps,
    plot_first_layer_kernels,
    plot_kernel_magnitudes,
    plot_kernels_channelwise,
)


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10)


def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 2),
    )


def all_hooks(model):
    return [
        h
        for m in model.modules()
        for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
    ]


def test_conv_layers_in_order(resnet):
    names = [name for name, _ in conv_layers(resnet)]
    expected = [name for name, m in resnet.named_modules() if type(m) is nn.Conv2d]
    assert names == expected and len(names) == 20  # stem + 16 in the blocks + 3 downsample
    assert names[0] == "conv1" and names[-1] == "layer4.1.conv2"
    assert [n for n, _ in conv_layers(tiny_net())] == ["0", "3"]


def test_kernel_magnitudes_match_direct_formulas():
    net = tiny_net()
    w = net[3].weight.detach()  # (6, 4, 3, 3)
    l2 = kernel_magnitudes(net, norm="l2")
    assert list(l2) == ["0", "3"]
    per_filter = torch.stack([w[o].pow(2).sum().sqrt() for o in range(w.shape[0])])
    assert l2["3"] == pytest.approx(per_filter.mean().item(), rel=1e-6)
    l1 = kernel_magnitudes(net, norm="l1")
    assert l1["3"] == pytest.approx(w.abs().sum().item() / 6, rel=1e-6)
    assert kernel_magnitudes(net, norm="mean_abs")["3"] == pytest.approx(
        w.abs().mean().item(), rel=1e-6
    )
    with pytest.raises(ValueError, match="norm must be"):
        kernel_magnitudes(net, norm="l3")
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        kernel_magnitudes(nn.Linear(2, 2))


def test_feature_maps_shapes_values_and_no_hooks_left(resnet):
    image = torch.randn(3, 32, 32)
    mode_before = [m.training for m in resnet.modules()]
    stats_before = resnet.bn1.running_mean.clone()
    maps = feature_maps(resnet, image, layers=["conv1", "layer1.0.conv1", "layer4"])
    assert list(maps) == ["conv1", "layer1.0.conv1", "layer4"]
    assert maps["conv1"].shape == (1, 64, 16, 16)
    assert maps["layer4"].shape == (1, 512, 1, 1)
    # conv1's output is the convolution of the image: compare with F.conv2d directly
    expected = torch.nn.functional.conv2d(image[None], resnet.conv1.weight, stride=2, padding=3)
    torch.testing.assert_close(maps["conv1"], expected)
    assert not all_hooks(resnet)
    assert [m.training for m in resnet.modules()] == mode_before  # the mode is restored
    torch.testing.assert_close(resnet.bn1.running_mean, stats_before)  # BatchNorm not updated


def test_feature_maps_default_layers_and_hooks_removed_on_error():
    net = tiny_net()
    maps = feature_maps(net, torch.randn(2, 3, 8, 8))
    assert list(maps) == ["0", "3"] and maps["3"].shape == (2, 6, 8, 8)
    with pytest.raises(RuntimeError):
        feature_maps(net, torch.randn(1, 5, 8, 8))  # wrong channel count: the forward fails
    assert not all_hooks(net)
    with pytest.raises(ValueError, match="no module named"):
        feature_maps(net, torch.randn(1, 3, 8, 8), layers=["conv9"])
    assert not all_hooks(net)


def test_plots_return_figures(resnet):
    figures = [
        plot_kernel_magnitudes(resnet),
        plot_kernel_magnitudes(kernel_magnitudes(resnet, norm="mean_abs"), norm="mean_abs"),
        plot_first_layer_kernels(resnet, max_kernels=16),
        plot_kernels_channelwise(resnet.layer1[0].conv1, max_kernels=3, max_channels=4),
        plot_feature_maps(feature_maps(tiny_net(), torch.randn(3, 8, 8)), max_channels=4),
    ]
    assert all(isinstance(fig, Figure) for fig in figures)
    assert len(figures[2].axes) == 16
    assert len(figures[3].axes) == 3 * 4 + 1  # the cells and a colorbar
    for fig in figures:
        plt.close(fig)
    with pytest.raises(ValueError, match="input channels"):
        plot_first_layer_kernels(nn.Sequential(nn.Conv2d(5, 2, 3)))


def test_feature_maps_of_vit_tokens_equal_hidden_states():
    from minivision import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2).eval()
    x = torch.randn(2, 3, 16, 16)
    maps = feature_maps(vit, x, layers=["encoder.blocks.0", "encoder.blocks.1"])
    hidden = vit.forward_features(x, output_hidden_states=True).hidden_states
    torch.testing.assert_close(maps["encoder.blocks.0"], hidden[1])
    torch.testing.assert_close(maps["encoder.blocks.1"], hidden[2])
    assert not all_hooks(vit)


def test_analysis_tools_send_the_images_to_the_models_device():
    # a model trained on a GPU, analysed with images from a CPU loader: the "meta" device stands in
    # for the GPU here (tests/test_cuda.py runs the same on a real one)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).to("meta")
    maps = feature_maps(model, torch.rand(3, 8, 8), ["0"])
    assert maps["0"].device.type == "meta" and maps["0"].shape == (1, 4, 6, 6)

"""CNN baselines against torchvision, and the model registry."""
import math

import pytest
import torch
import torchvision
from torch import nn
from torch.testing import assert_close

from minivision.layers.stn import SpatialTransformer
from minivision.models import MODEL_NAMES, PRESETS, STNClassifier, VisionTransformer, create_model
from minivision.models.cnn import resnet18, resnet50, vgg16


def _torchvision_cifar(builder):
    """A torchvision ResNet with the same CIFAR stem swapped in: 3x3 stride-1 conv, no max-pool."""
    model = builder(weights=None, num_classes=10)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    with torch.no_grad():  # non-trivial batch-norm statistics and affine parameters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return model


@pytest.mark.parametrize("ours, builder, expected", [
    (resnet18, torchvision.models.resnet18, 11_173_962),  # the usual CIFAR ResNet-18 count
    (resnet50, torchvision.models.resnet50, 23_520_842),
])
def test_resnet_matches_torchvision(ours, builder, expected):
    model, reference = ours(num_classes=10), _torchvision_cifar(builder)
    assert sum(p.numel() for p in model.parameters()) == expected
    model.load_state_dict(reference.state_dict())  # strict: every name and shape must agree
    x = torch.randn(2, 3, 8, 8)  # 8x8 keeps the test fast; the stem and stages do not care
    with torch.no_grad():
        model.eval(), reference.eval()
        assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)
        model.train(), reference.train()  # batch statistics instead of running ones
        assert_close(model(x), reference(x), atol=1e-4, rtol=1e-4)


def test_vgg16_features_match_torchvision():
    model = vgg16(num_classes=10)
    # torchvision's own builder of vgg16_bn().features, without its 120M-parameter classifier
    reference = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"], batch_norm=True)
    assert sum(p.numel() for p in model.features.parameters()) == 14_714_688 + 8_448  # convs + BN
    assert sum(p.numel() for p in model.features.parameters()) == sum(p.numel() for p in reference.parameters())
    model.features.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 32, 32)
    model.eval(), reference.eval()
    with torch.no_grad():
        features = model.features(x)  # (2, 512, 1, 1)
        assert_close(features, reference(x), atol=1e-5, rtol=1e-5)
        assert model.classifier(features.flatten(1)).shape == (2, 10)
    # classifier: 512 -> 512 -> 512 -> 10
    assert sum(p.numel() for p in model.classifier.parameters()) == 2 * (512 * 512 + 512) + 512 * 10 + 10


def test_kaiming_init():
    model = resnet18()
    conv = model.layer3[0].conv2  # 256 -> 256, 3x3: fan_out = 256 * 9
    assert abs(conv.weight.std().item() - math.sqrt(2.0 / (256 * 9))) < 0.002
    assert torch.equal(model.layer3[0].bn2.weight, torch.ones(256))


def test_stn_classifier():
    model = STNClassifier(10, use_stn=True)
    plain = STNClassifier(10, use_stn=False)
    assert isinstance(model.stn, SpatialTransformer) and isinstance(plain.stn, nn.Identity)
    x = torch.rand(3, 3, 32, 32)
    assert_close(model.stn(x), x, atol=1e-6, rtol=0)  # the STN starts at the identity
    # With the same classifier weights and an identity STN, both give the same logits.
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("stn.")})
    model.eval(), plain.eval()
    assert_close(model(x), plain(x), atol=1e-5, rtol=1e-5)
    model.train()
    model(x).sum().backward()
    assert model.stn.fc_loc[-1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="divisible by 8"):
        STNClassifier(10, image_size=20)
    with pytest.raises(ValueError, match=r"expected images \(B, 3, 32, 32\)"):
        plain(torch.rand(2, 3, 28, 28))


def test_registry_builds_every_name():
    assert set(PRESETS) < set(MODEL_NAMES)
    for name in ["vit_micro_patch4_32", "stn_cnn", "cnn"]:  # the small ones run a forward pass
        model = create_model(name, num_classes=7, in_channels=1).eval()
        with torch.no_grad():
            assert model(torch.randn(1, 1, 32, 32)).shape == (1, 7), name
    for name in ["resnet18", "resnet50"]:
        model = create_model(name, num_classes=7, in_channels=1)
        assert model.conv1.in_channels == 1 and model.fc.out_features == 7
    model = create_model("vgg16", num_classes=7, in_channels=1)
    assert model.features[0].in_channels == 1 and model.classifier[-1].out_features == 7
    vit = create_model("vit_tiny_patch16_224", num_classes=4, image_size=64)
    assert isinstance(vit, VisionTransformer) and vit.config.image_size == 64 and vit.config.embed_dim == 192
    assert isinstance(create_model("stn_cnn", num_classes=2).stn, SpatialTransformer)
    with pytest.raises(ValueError, match="resnet18"):
        create_model("resnet19", num_classes=10)

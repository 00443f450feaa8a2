"""Grad-CAM (Selvaraju et al. 2017) for a CNN and a ViT, against a direct autograd computation
that captures the activation by running the network's pieces by hand (no hooks)."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from minivision import VisionTransformer
from minivision.analysis import GradCAM


def all_hooks(model):
    return [
        h
        for m in model.modules()
        for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
    ]


def direct_cam(activation, score, size):
    """Eqs. 1-2 written out: alpha = spatial mean of dy/dA, ReLU(sum_k alpha_k A_k),
    then resize and min-max scale."""
    (grads,) = torch.autograd.grad(score, activation)
    alpha = grads.mean(dim=(2, 3))  # (B, C)
    cam = F.relu(torch.einsum("bc,bchw->bhw", alpha, activation))
    cam = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    low = cam.amin(dim=(1, 2), keepdim=True)
    high = cam.amax(dim=(1, 2), keepdim=True)
    return ((cam - low) / (high - low)).detach()


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


def test_gradcam_cnn_matches_direct_computation(resnet):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([3, 6])  # classes whose maps are not all zero here
    heat = GradCAM(resnet, resnet.layer2)(images, target=target)
    assert heat.shape == (2, 32, 32)
    assert heat.min() >= 0 and torch.allclose(heat.amax(dim=(1, 2)), torch.ones(2))

    r = resnet
    x = r.maxpool(r.relu(r.bn1(r.conv1(images))))
    activation = r.layer2(r.layer1(x))  # (2, 128, 4, 4), the node we differentiate at
    logits = r.fc(torch.flatten(r.avgpool(r.layer4(r.layer3(activation))), 1))
    score = logits[torch.arange(2), target].sum()
    torch.testing.assert_close(heat, direct_cam(activation, score, (32, 32)), atol=1e-6, rtol=0)
    assert not all_hooks(resnet)


def small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    ).eval()


def test_gradcam_target_default_and_hooks_removed_on_error():
    model = small_cnn()
    images = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    cam = GradCAM(model, model[2])
    predicted = model(images).argmax(1)
    torch.testing.assert_close(cam(images), cam(images, target=predicted))
    assert not torch.allclose(
        cam(images, target=0), cam(images, target=1)
    )  # the class changes the map
    with pytest.raises(ValueError, match="target classes"):
        cam(images, target=4)
    assert not all_hooks(model)


def tiny_vit(**overrides):
    torch.manual_seed(0)
    config = dict(image_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, num_classes=5)
    return VisionTransformer(**{**config, **overrides}).eval()


def vit_direct(model, images, target):
    """Run the ViT by hand up to the last block's norm1, differentiate there, fold the patches."""
    x = model.embeddings(images)
    for block in model.encoder.blocks[:-1]:
        x = block(x)
    last = model.encoder.blocks[-1]
    normed = last.norm1(x)  # (B, N, D): the default target activation
    x = x + last.attn(normed)
    x = x + last.mlp(last.norm2(x))
    logits = model.forward_head(model.encoder.norm(x))
    score = logits[torch.arange(len(images)), target].sum()
    (grads,) = torch.autograd.grad(score, normed, retain_graph=True)
    P = model.embeddings.num_prefix_tokens
    B, N, D = normed.shape
    g = model.embeddings.patch_embed.grid_size

    def fold(t):  # (B, N, D) -> (B, D, g, g), patches row by row
        return t[:, P:].reshape(B, g, g, D).permute(0, 3, 1, 2)

    activation, grads = fold(normed), fold(grads)
    alpha = grads.mean(dim=(2, 3))
    cam = F.relu(torch.einsum("bc,bchw->bhw", alpha, activation))
    cam = F.interpolate(cam[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[
        :, 0
    ]
    low, high = cam.amin(dim=(1, 2), keepdim=True), cam.amax(dim=(1, 2), keepdim=True)
    return ((cam - low) / (high - low)).detach()


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_gradcam_vit_matches_direct_computation(pool):
    model = tiny_vit(pool=pool)
    images = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    target = torch.tensor([0, 2, 4])
    heat = GradCAM(model)(images, target=target)  # default layer: blocks[-1].norm1
    assert heat.shape == (3, 16, 16)
    torch.testing.assert_close(heat, vit_direct(model, images, target), atol=1e-6, rtol=0)
    assert not all_hooks(model)
    assert not torch.allclose(GradCAM(model)(images, target=1), GradCAM(model)(images, target=3))


def test_gradcam_vit_last_block_output_has_no_patch_gradient():
    """Why the default is norm1: with [CLS] pooling the last block's output reaches the head only
    through token 0, so every patch gradient there is zero and the map is empty."""
    model = tiny_vit()
    images = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    heat = GradCAM(model, model.encoder.blocks[-1])(images, target=0)
    assert torch.count_nonzero(heat) == 0
    assert torch.count_nonzero(GradCAM(model)(images, target=0)) > 0


def test_gradcam_errors():
    with pytest.raises(ValueError, match="target_layer"):
        GradCAM(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3)))
    model = tiny_vit()
    with pytest.raises(ValueError, match="not called"):
        GradCAM(model, torch.nn.Linear(2, 2))(torch.randn(1, 3, 16, 16))
    assert not all_hooks(model)
    inplace = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(inplace=True),
        torch.nn.Flatten(),
        torch.nn.Linear(144, 2),
    )
    with pytest.raises(ValueError, match="in place"):  # the ReLU overwrites the conv's output
        GradCAM(inplace, inplace[0])(torch.randn(1, 3, 8, 8))
    assert GradCAM(inplace, inplace[1])(torch.randn(1, 3, 8, 8)).shape == (1, 8, 8)

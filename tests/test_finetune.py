"""minivision.training.finetune: freeze strategies, layer-wise lr decay, linear probe."""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minivision import VisionTransformer
from minivision.training import apply_finetune_strategy, linear_probe, param_groups_lrd


def tiny_vit(depth=3):
    return VisionTransformer(image_size=16, patch_size=8, embed_dim=32, depth=depth, num_heads=2,
                             num_classes=5)


def trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_none_freezes_everything():
    model = tiny_vit()
    info = apply_finetune_strategy(model, "none")
    assert trainable(model) == set() and info["trainable"] == 0


def test_head_trains_only_the_head():
    model = tiny_vit()
    info = apply_finetune_strategy(model, "head")
    assert trainable(model) == {"head.weight", "head.bias"}
    assert info["trainable"] == 32 * 5 + 5
    assert info["total"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("k", [1, 2, 3])
def test_last_k_trains_last_blocks_norm_and_head(k):
    model = tiny_vit(depth=3)
    info = apply_finetune_strategy(model, "last_k", k=k)
    blocks = [f"encoder.blocks.{i}." for i in range(3 - k, 3)]
    expected = {n for n, _ in model.named_parameters()
                if n.startswith(tuple(blocks)) or n.startswith(("encoder.norm.", "head."))}
    assert trainable(model) == expected
    assert info["trainable"] == sum(p.numel() for n, p in model.named_parameters() if n in expected)


def test_full_after_head_unfreezes_everything():
    model = tiny_vit()
    apply_finetune_strategy(model, "head")
    apply_finetune_strategy(model, "full")
    assert trainable(model) == {n for n, _ in model.named_parameters()}


def test_strategy_errors():
    model = tiny_vit()
    with pytest.raises(ValueError, match="strategy must be one of"):
        apply_finetune_strategy(model, "partial")
    with pytest.raises(ValueError, match="k between 1 and the depth 3"):
        apply_finetune_strategy(model, "last_k", k=4)
    with pytest.raises(ValueError, match="encoder.blocks"):
        apply_finetune_strategy(nn.Sequential(nn.Linear(2, 2)), "last_k", k=1)


def test_head_strategy_on_a_cnn_uses_fc():
    model = nn.Sequential()
    model.conv = nn.Conv2d(3, 4, 3)
    model.fc = nn.Linear(4, 2)
    apply_finetune_strategy(model, "head")
    assert trainable(model) == {"fc.weight", "fc.bias"}


def test_layer_decay_learning_rates():
    model = tiny_vit(depth=3)
    groups = param_groups_lrd(model, lr=1.0, layer_decay=0.5, weight_decay=0.1)
    lr_of = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in groups:
        for p in group["params"]:
            lr_of[names[id(p)]] = (group["lr"], group["weight_decay"])
    # L = 3 blocks: embeddings 0.5^4, block i 0.5^(3 - i), norm and head 1
    assert lr_of["embeddings.patch_embed.proj.weight"] == (0.5 ** 4, 0.1)
    assert lr_of["embeddings.pos_embed"] == (0.5 ** 4, 0.0)
    assert lr_of["encoder.blocks.0.attn.qkv.weight"] == (0.5 ** 3, 0.1)
    assert lr_of["encoder.blocks.2.mlp.fc1.bias"] == (0.5, 0.0)
    assert lr_of["head.weight"] == (1.0, 0.1) and lr_of["encoder.norm.weight"] == (1.0, 0.0)
    assert len(lr_of) == len(list(model.parameters()))


def test_linear_probe_separates_linearly_separable_features():
    torch.manual_seed(0)
    model = tiny_vit().eval()
    images = torch.randn(120, 3, 16, 16)
    # labels from a fixed linear map of the frozen features: a probe must find it
    with torch.no_grad():
        feats = model.pool(model.forward_features(images))
    direction = torch.randn(feats.shape[1], 3)
    labels = (feats @ direction).argmax(1)
    train = DataLoader(TensorDataset(images[:80], labels[:80]), batch_size=40)
    test = DataLoader(TensorDataset(images[80:], labels[80:]), batch_size=40)
    result = linear_probe(model, train, test, epochs=100, lr=3e-2, device="cpu")
    assert result.train_acc >= 0.95
    assert result.test_acc >= 0.75  # well above chance (1/3) on held-out images
    assert not any(p.grad is not None for p in model.parameters())  # the backbone stays frozen

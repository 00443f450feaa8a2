"""Fine-tuning a pretrained model: which parameters train, linear probing, layer-wise lr decay.

Strategies (the rows of lesson 05's table):
    "none"    everything frozen, the fresh head too: the floor (chance plus luck)
    "head"    only the last layer (the classifier) trains
    "last_k"  the last k transformer blocks, the final norm and the head train
    "full"    every parameter trains

Linear probing (Alain & Bengio 2016; the SSL protocol of Chen et al. 2020) trains a linear
classifier on frozen features. Layer-wise learning-rate decay (BEiT, Bao et al. 2022, sec. 2.4;
MAE, He et al. 2022) gives block l of L the rate lr * decay^(L + 1 - l): early, general layers
move less than late, task-specific ones.
"""
from dataclasses import dataclass

import torch
from torch import nn

from ..models.parameters import count_parameters
from ..models.protocol import require
from ..runtime import pick_device, tqdm
from .optim import no_weight_decay_names, takes_weight_decay
from .wrappers import unwrap_model

STRATEGIES = ("none", "head", "last_k", "full")


def classifier_head(model: nn.Module) -> nn.Module:
    """The last layer: what ``model.get_classifier()`` says (minivision models, timm), else the
    model's last ``nn.Linear`` (torchvision's ``fc``, a plain ``nn.Sequential``)."""
    if hasattr(model, "get_classifier"):
        head = model.get_classifier()
    else:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        head = linears[-1] if linears else None
    if head is None or not any(True for _ in head.parameters()):
        raise ValueError(f"{type(model).__name__} has no classifier with parameters (no "
                         "get_classifier() and no nn.Linear, or a head built with "
                         "num_classes=0); give it one, e.g. model.reset_classifier(10).")
    return head


def apply_finetune_strategy(model: nn.Module, strategy: str, *, k: int | None = None) -> dict:
    """Set ``requires_grad`` for a fine-tuning strategy (see the module docstring).

    Args:
        model: any model for "none" and "full"; one whose classifier :func:`classifier_head`
            finds for "head"; one with ``layer_id`` and ``num_layers`` (a VisionTransformer,
            see :mod:`minivision.models.protocol`) for "last_k".
        strategy: "none", "head", "last_k" or "full".
        k: the number of trailing blocks for "last_k" (1 <= k <= depth).

    Returns:
        {"strategy", "trainable", "total", "fraction"}: parameter counts after the change.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}.")
    if k is not None and strategy != "last_k":
        raise ValueError(f"k is only used by strategy 'last_k', got k={k} with {strategy!r}.")
    model.requires_grad_(strategy == "full")
    if strategy == "head":
        classifier_head(model).requires_grad_(True)
    elif strategy == "last_k":
        _train_last_blocks(model, k)
    trainable, total = count_parameters(model, trainable_only=True), count_parameters(model)
    return {"strategy": strategy, "trainable": trainable, "total": total,
            "fraction": trainable / total}


def _train_last_blocks(model: nn.Module, k: int | None) -> None:
    """Unfreeze the last k blocks, the final norm and the head: the layer ids above L - k
    (block i has id i + 1, the final norm and the head L + 1, the embeddings 0)."""
    model = unwrap_model(model)  # the names layer_id knows, without "_orig_mod." or "module."
    require(model, "layer_id", "num_layers", purpose="'last_k' fine-tuning",
            hint="A VisionTransformer numbers its embeddings 0, its encoder.blocks 1..L and "
                 "its final norm and head L + 1.")
    depth = model.num_layers - 1
    if k is None or not 1 <= k <= depth:
        raise ValueError(f"'last_k' needs k between 1 and the depth {depth}, got k={k}.")
    for name, param in model.named_parameters():
        if model.layer_id(name) > depth - k:
            param.requires_grad_(True)


def param_groups_lrd(model: nn.Module, *, lr: float, layer_decay: float,
                     weight_decay: float = 0.05) -> list[dict]:
    """Parameter groups with layer-wise learning-rate decay, for a VisionTransformer.

    The model numbers its parameters (``model.layer_id(name)``, see
    :mod:`minivision.models.protocol`): the embeddings 0, block i (0-based) i + 1, the final
    norm and the head L + 1 = ``model.num_layers``. A parameter of layer l gets
    ``lr * layer_decay ** (L + 1 - l)``; 1-D parameters and those the model lists in
    ``no_weight_decay()`` get no weight decay (as in :func:`param_groups_weight_decay`).

    Returns:
        a list of optimizer groups, each with "params", "lr", "weight_decay" and "layer_id".
    """
    model = unwrap_model(model)  # the names layer_id knows, without "_orig_mod." or "module."
    require(model, "layer_id", "num_layers", purpose="layer-wise lr decay",
            hint="Train it with layer_decay=None, or add the two (VisionTransformer has them).")
    num_layers = model.num_layers
    no_decay_names = no_weight_decay_names(model)
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer_id = model.layer_id(name)
        decay = weight_decay if takes_weight_decay(name, param, no_decay_names) else 0.0
        key = (layer_id, decay)
        if key not in groups:
            scale = layer_decay ** (num_layers - layer_id)
            groups[key] = {"params": [], "lr": lr * scale, "weight_decay": decay,
                           "layer_id": layer_id}
        groups[key]["params"].append(param)
    return list(groups.values())


@dataclass
class ProbeResult:
    train_acc: float
    test_acc: float
    classifier: nn.Linear  # trained on standardised features: (f - mean) / std


@torch.no_grad()
def extract_features(model: nn.Module, loader, *, feature_fn=None, device=None, progress=False):
    """Frozen features of a whole loader.

    Args:
        feature_fn: images (B, C, H, W) -> features (B, F); default: ``model.pool(
            model.forward_features(x))`` for a ViT, else ``forward_features`` pooled over
            tokens (B, N, D) or space (B, C, H, W).

    Returns:
        (features (N, F) float32 on the CPU, labels (N,)).
    """
    device = pick_device(device) if device is None or isinstance(device, str) else device
    model.to(device).eval()
    feature_fn = feature_fn or (lambda x: _default_features(model, x))
    features, labels = [], []
    for images, targets in tqdm(loader, desc="features", disable=not progress, leave=False):
        feats = feature_fn(images.to(device)).float()  # (B, F)
        features.append(feats.cpu())
        labels.append((targets.argmax(1) if targets.ndim == 2 else targets).cpu())
    return torch.cat(features), torch.cat(labels)


def _default_features(model, x):
    if not hasattr(model, "forward_features"):
        raise ValueError(f"{type(model).__name__} has no forward_features; pass feature_fn=.")
    tokens = model.forward_features(x)
    if hasattr(model, "pool"):
        return model.pool(tokens)  # (B, D)
    return tokens.mean(dim=1) if tokens.ndim == 3 else tokens.mean(dim=(2, 3))  # (B, D) / (B, C)


def linear_probe(model: nn.Module, train_loader, test_loader, *, feature_fn=None, epochs: int = 50,
                 lr: float = 1e-2, weight_decay: float = 1e-4, batch_size: int = 256, seed: int = 0,
                 device=None, progress: bool = False) -> ProbeResult:
    """Train a linear classifier on frozen features and report its accuracy.

    The features are computed once, standardised with the training set's mean and std, and a
    ``nn.Linear`` is trained on them with AdamW and cross-entropy (minutes on a CPU for CIFAR).

    Returns:
        a :class:`ProbeResult` with train and test top-1 accuracy in [0, 1] and the classifier.
    """
    x_train, y_train = extract_features(model, train_loader, feature_fn=feature_fn, device=device,
                                        progress=progress)
    x_test, y_test = extract_features(model, test_loader, feature_fn=feature_fn, device=device,
                                      progress=progress)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    generator = torch.Generator().manual_seed(seed)
    classifier = nn.Linear(x_train.shape[1], num_classes)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in tqdm(range(epochs), desc="linear probe", disable=not progress, leave=False):
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(classifier(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        train_acc = (classifier(x_train).argmax(1) == y_train).float().mean().item()
        test_acc = (classifier(x_test).argmax(1) == y_test).float().mean().item()
    return ProbeResult(train_acc=train_acc, test_acc=test_acc, classifier=classifier)

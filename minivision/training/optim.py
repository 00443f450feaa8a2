"""Optimizers: AdamW (Loshchilov & Hutter 2019) or SGD with momentum, with weight decay only on
the weight matrices.

Decaying a bias, a LayerNorm/BatchNorm scale or a position embedding towards zero has no
regularising meaning and hurts ViTs, so those go in a group with ``weight_decay=0`` (as in
nanoGPT's ``configure_optimizers`` and timm's ``param_groups_weight_decay``). The 1-D parameters
are found by shape; the others by asking the model: every submodule that has a
``no_weight_decay()`` method (see :mod:`minivision.models.protocol`) names its own.
"""
import torch
from torch import nn


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names of the parameters that ``model`` or one of its submodules lists in its
    ``no_weight_decay()`` (a ViT inside a video model answers for its own embeddings).
    Empty for a model that has no such method: then only the 1-D parameters skip the decay."""
    names = set()
    for prefix, module in model.named_modules():
        if hasattr(module, "no_weight_decay"):
            names |= {f"{prefix}.{name}" if prefix else name for name in module.no_weight_decay()}
    return names


def takes_weight_decay(name: str, param: torch.Tensor, no_decay_names: set[str]) -> bool:
    """False for 1-D parameters (biases, norm scales) and for the names the model lists."""
    return param.ndim > 1 and name not in no_decay_names


def param_groups_weight_decay(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups of the trainable parameters: with and without weight decay."""
    no_decay_names = no_weight_decay_names(model)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (decay if takes_weight_decay(name, param, no_decay_names) else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(param_groups: list[dict], config) -> torch.optim.Optimizer:
    """AdamW or SGD over ``param_groups`` with the settings of a :class:`TrainConfig`."""
    param_groups = [group for group in param_groups if group["params"]]
    if not param_groups:
        raise ValueError("the model has no trainable parameters (every requires_grad is False); "
                         "unfreeze some (apply_finetune_strategy) or call evaluate(), not fit().")
    if config.optimizer == "adamw":
        return torch.optim.AdamW(param_groups, lr=config.lr, betas=tuple(config.betas))
    return torch.optim.SGD(param_groups, lr=config.lr, momentum=config.momentum,
                           nesterov=config.nesterov)

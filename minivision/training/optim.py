"""Optimizers: AdamW (Loshchilov & Hutter 2019) or SGD with momentum, with weight decay only on
the weight matrices.

Decaying a bias, a LayerNorm/BatchNorm scale or a position embedding towards zero has no
regularising meaning and hurts ViTs, so those go in a group with ``weight_decay=0`` (as in
nanoGPT's ``configure_optimizers`` and timm's ``param_groups_weight_decay``).
"""
import torch
from torch import nn

NO_DECAY_NAMES = ("pos_embed", "cls_token")


def no_weight_decay(name: str, param: torch.Tensor) -> bool:
    """True for 1-D parameters (biases, norm scales) and the embeddings named in NO_DECAY_NAMES."""
    return param.ndim <= 1 or name.split(".")[-1] in NO_DECAY_NAMES


def param_groups_weight_decay(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups of the trainable parameters: with and without weight decay."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if no_weight_decay(name, param) else decay).append(param)
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

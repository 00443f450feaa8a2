"""How big a model is: its number of parameters (the figure papers quote, e.g. ViT-B/16's 86M)."""
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameters (shared tensors counted once); only those with
    ``requires_grad`` if ``trainable_only``."""
    unique = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in unique if p.requires_grad or not trainable_only)


__all__ = ["count_parameters"]

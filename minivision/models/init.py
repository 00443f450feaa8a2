"""Initialisation shared by the models that add new layers to a (possibly pretrained) network.

timm's ViT scheme (``init_weights_vit_timm``, the one :meth:`VisionTransformer.init_weights`
uses): every ``nn.Linear`` gets a truncated normal weight (std 0.02) and a zero bias, every
``nn.LayerNorm`` starts at the identity (weight 1, bias 0). Applied to a submodule only, it
leaves the rest of the network as it is: the video and caption models call it on their new
parts (temporal blocks, cross-attention, heads), never on a pretrained backbone.
"""
from torch import nn


def init_linear_and_norm(module: nn.Module) -> None:
    """timm's ViT init, in place, for every Linear and LayerNorm inside ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


__all__ = ["init_linear_and_norm"]

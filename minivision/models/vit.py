"""The Vision Transformer (Dosovitskiy et al. 2021), assembled from the layers in minivision.layers.

    z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos        eq. 1   Embeddings
    z_l = Block(z_{l-1}),  l = 1..L                       eqs. 2-3 Encoder
    y   = LN(z_L^0)  ->  head                             eq. 4   pool + head

``forward_features`` gives the tokens, ``forward_head`` the logits (timm's split). Weights from
Hugging Face transformers, timm and torchvision load with the free functions ``load_hf``,
``load_timm`` and ``load_torchvision`` in :mod:`minivision.models.vit_import`, which imports this
module (and not the other way round).
"""
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from ..layers import Embeddings, Encoder, EncoderOutput
from .checks import check_finite, check_image_dtype

# Named sizes. CIFAR-sized models use patch 4 on 32x32 images (8x8 = 64 patches); the 224-pixel
# ones are the ViT paper's Table 1 (Ti and S from DeiT).
PRESETS = {
    "vit_micro_patch8_32": dict(image_size=32, patch_size=8, embed_dim=64, depth=4, num_heads=4, mlp_ratio=2.0),
    "vit_micro_patch4_32": dict(image_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4, mlp_ratio=2.0),
    "vit_tiny_patch4_32": dict(image_size=32, patch_size=4, embed_dim=192, depth=6, num_heads=3),
    "vit_small_patch4_32": dict(image_size=32, patch_size=4, embed_dim=384, depth=7, num_heads=6),
    "vit_tiny_patch16_224": dict(image_size=224, patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "vit_small_patch16_224": dict(image_size=224, patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "vit_base_patch16_224": dict(image_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch32_224": dict(image_size=224, patch_size=32, embed_dim=768, depth=12, num_heads=12),
    "vit_large_patch16_224": dict(image_size=224, patch_size=16, embed_dim=1024, depth=24, num_heads=16),
}


@dataclass
class ViTConfig:
    """Everything that defines a :class:`VisionTransformer`'s shape (no training settings).

    Use a preset and override what differs: ``ViTConfig.from_preset("vit_tiny_patch4_32", num_classes=100)``.
    """

    image_size: int = 32
    patch_size: int = 4
    in_channels: int = 3
    num_classes: int = 10
    embed_dim: int = 192
    depth: int = 6
    num_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    dropout: float = 0.0
    attn_dropout: float = 0.0
    drop_path_rate: float = 0.0
    norm_eps: float = 1e-6
    pool: str = "cls"  # "cls": the [CLS] token's output (ViT); "mean": the mean of the patch tokens
    fused_attn: bool = True
    dynamic_size: bool = False

    def __post_init__(self):
        if self.pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {self.pool!r}.")
        for name in ("image_size", "patch_size", "in_channels", "embed_dim", "depth", "num_heads",
                     "num_classes"):
            value, least = getattr(self, name), 0 if name == "num_classes" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                kind = "an integer >= 0 (0: no head, features only)" if least == 0 \
                    else "a positive integer"
                raise ValueError(f"{name} must be {kind}, got {value!r}.")
        if not 0 < self.mlp_ratio < float("inf"):
            raise ValueError(f"mlp_ratio must be a positive number (the MLP is mlp_ratio * "
                             f"embed_dim wide), got {self.mlp_ratio!r}; ViT uses 4.0.")
        for name in ("dropout", "attn_dropout", "drop_path_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} is a probability in [0, 1), got {getattr(self, name)!r}.")
        if not 0 < self.norm_eps < 1:
            raise ValueError(f"norm_eps must be a small positive number, got {self.norm_eps!r}; "
                             "e.g. 1e-6.")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "ViTConfig":
        """A named size (see ``PRESETS``) with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"unknown ViT preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def replace(self, **changes) -> "ViTConfig":
        """A copy with some fields changed (checked again); unknown names raise a ValueError."""
        unknown = sorted(set(changes) - set(asdict(self)))
        if unknown:
            raise ValueError(f"unknown ViTConfig field(s) {unknown}; the fields are "
                             f"{sorted(asdict(self))}.")
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


class VisionTransformer(nn.Module):
    """ViT: patch embeddings, a transformer encoder, a pooled token and a linear head.

    Args:
        config: a :class:`ViTConfig`; keyword arguments override its fields, and with no config
            they build one: ``VisionTransformer(embed_dim=64, depth=2, num_heads=2)``.

    Set ``model.check_finite = True`` (debug mode) to have every forward pass check its images for
    NaN and infinite values, naming them; the dtype and shape are always checked.
    """

    def __init__(self, config: ViTConfig | None = None, **overrides):
        super().__init__()
        config = (config or ViTConfig()).replace(**overrides)
        self.config = config
        self.embeddings = Embeddings(
            image_size=config.image_size,
            patch_size=config.patch_size,
            in_channels=config.in_channels,
            embed_dim=config.embed_dim,
            dropout=config.dropout,
            class_token=config.pool == "cls",
            dynamic_size=config.dynamic_size,
        )
        self.encoder = Encoder(
            depth=config.depth,
            embed_dim=config.embed_dim,
            num_heads=config.num_heads,
            mlp_ratio=config.mlp_ratio,
            qkv_bias=config.qkv_bias,
            dropout=config.dropout,
            attn_dropout=config.attn_dropout,
            drop_path_rate=config.drop_path_rate,
            norm_eps=config.norm_eps,
            fused=config.fused_attn,
        )
        self.head = _make_head(config.embed_dim, config.num_classes)
        self.check_finite = False
        self.init_weights()

    def init_weights(self):
        """timm's ``init_weights_vit_timm``: truncated normal (std 0.02) for every Linear and for
        the position embeddings (cut at +-2 absolute, as in timm: in effect normal(0, 0.02)), zero biases, LayerNorm at identity, a small normal (std 1e-6)
        for [CLS]. The patch projection keeps PyTorch's conv default (as in timm)."""
        nn.init.trunc_normal_(self.embeddings.pos_embed, std=0.02)
        if self.embeddings.cls_token is not None:
            nn.init.normal_(self.embeddings.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor, *, output_hidden_states=False, return_attn=False):
        """Args:
            x: images, (B, C, H, W).

        Returns:
            tokens after the final LayerNorm, (B, N, D); an :class:`EncoderOutput` if a flag is set.
        """
        self._check_input(x)
        x = self.embeddings(x)  # (B, N, D)
        return self.encoder(x, output_hidden_states=output_hidden_states, return_attn=return_attn)

    def _check_input(self, x: torch.Tensor) -> None:
        """A ValueError naming the fix for integer or float64 images, a non-square image into a
        ``dynamic_size`` model, and (with ``check_finite``) NaN or infinite pixels."""
        check_image_dtype(x, self.embeddings.patch_embed.proj.weight)
        if self.config.dynamic_size and x.ndim == 4 and x.shape[-2] != x.shape[-1]:
            raise ValueError(f"a dynamic_size ViT takes square images only, got "
                             f"{x.shape[-2]}x{x.shape[-1]}: crop or resize them to a square "
                             f"(e.g. torchvision's CenterCrop({min(x.shape[-2:])})).")
        if self.check_finite:
            check_finite(x)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) tokens -> (B, D): the [CLS] token, or the mean of the patch tokens."""
        if self.config.pool == "cls":
            return x[:, 0]  # (B, D)
        return x.mean(dim=1)  # (B, D)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) tokens -> (B, num_classes) logits."""
        x = self.pool(x)  # (B, D)
        return self.head(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: images, (B, C, H, W).

        Returns:
            logits, (B, num_classes).
        """
        x = self.forward_features(x)  # (B, N, D)
        return self.forward_head(x)

    def reset_classifier(self, num_classes: int):
        """Replace the head with a fresh one for ``num_classes`` classes (0: no head)."""
        self.config = ViTConfig(**{**self.config.to_dict(), "num_classes": num_classes})  # checked
        self.head = _make_head(self.config.embed_dim, num_classes)
        if num_classes > 0:
            nn.init.trunc_normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)

    # What the model tells training and analysis code (the contract: models/protocol.py).
    def no_weight_decay(self) -> set[str]:
        """The parameters besides the 1-D ones that take no weight decay (timm's method): the
        position embeddings and [CLS] are vectors the model looks up, not weights of a map."""
        names = {"embeddings.pos_embed"}
        if self.embeddings.cls_token is not None:
            names.add("embeddings.cls_token")
        return names

    def get_classifier(self) -> nn.Module:
        """The head: the layer that "head" fine-tuning trains and a new task replaces."""
        return self.head

    @property
    def num_layers(self) -> int:
        """L + 1: the layer id of the final norm and the head (see :meth:`layer_id`)."""
        return len(self.encoder.blocks) + 1

    def layer_id(self, param_name: str) -> int:
        """The layer of a parameter for layer-wise lr decay (BEiT sec. 2.4; MAE's
        ``get_layer_id_for_vit``): 0 for the embeddings, i + 1 for block i, ``num_layers`` for
        the final norm and the head. "last_k" fine-tuning trains the ids above L - k."""
        parts = param_name.split(".")
        if parts[0] == "embeddings":
            return 0
        if parts[:2] == ["encoder", "blocks"]:
            return int(parts[2]) + 1
        if parts[:2] == ["encoder", "norm"] or parts[0] == "head":
            return self.num_layers
        raise ValueError(f"{param_name!r} is not a parameter name of this VisionTransformer; "
                         f"use the names of model.named_parameters().")

    def gradcam_layer(self) -> nn.Module:
        """The last block's ``norm1``, the input of the last attention. Not the block's output:
        with [CLS] pooling the head reads token 0 only and the last MLP acts per token, so every
        patch token there has zero gradient (see :mod:`minivision.analysis.gradcam`)."""
        return self.encoder.blocks[-1].norm1

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens before the patches: 1 with [CLS] (pool="cls"), 0 with mean pooling."""
        return self.embeddings.num_prefix_tokens

    def patch_grid(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(g_h, g_w): the grid of patch tokens for images of ``image_size`` = (H, W) pixels."""
        p = self.config.patch_size
        return image_size[0] // p, image_size[1] // p

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "VisionTransformer":
        """Build a randomly initialised model of a named size (``PRESETS``)."""
        return cls(ViTConfig.from_preset(name, **overrides))


def _make_head(embed_dim: int, num_classes: int) -> nn.Module:
    return nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()


__all__ = ["PRESETS", "EncoderOutput", "ViTConfig", "VisionTransformer"]

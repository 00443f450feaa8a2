"""The Compact Convolutional Transformer (Hassani et al. 2021, "Escaping the Big Data Paradigm
with Compact Transformers"): a transformer that learns CIFAR-10 from its 50,000 images.

A ViT cuts the image into patches and must learn from data alone that neighbouring pixels belong
together. CCT makes its tokens with a few small convolutions instead, and pools its output tokens
with learned weights instead of a [CLS] token:

    x_0 = Tokenizer(image) + E_pos                  conv -> ReLU -> max-pool, n times (sec. 3.3)
    x_L = Encoder(x_0)                              L pre-norm blocks and a final LayerNorm
    x_w = softmax(g(x_L)^T)           (B, 1, N)     SeqPool, eq. 1: one weight per token
    z   = x_w x_L                     (B, 1, D)     SeqPool, eq. 2: the weighted mean of the tokens
    y   = head(z)

with g a linear map D -> 1. The encoder is minivision's own (``minivision.layers.Encoder``), the
same pre-norm blocks as the ViT's, with no bias in the q, k, v projections (as in the CCT code).
One difference from the authors' code: their block also normalises the residual stream after the
attention (x = LN(x + MSA(LN(x))), then x + MLP(x)); ours is ViT's, x + MLP(LN(x)). The paper's
name for a size is CCT-L/kxn: L blocks, kernels k x k, n convolutions.
"""
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from ..layers import Encoder
from .checks import check_finite, check_image_dtype

# The paper's CIFAR sizes (Table 2 and appendix): name -> settings. "cct_7_3x1_32" is CCT-7/3x1,
# its best CIFAR-10 model; "cct_2_3x2_32" is CCT-2/3x2, its smallest.
PRESETS = {
    "cct_2_3x2_32": dict(embed_dim=128, depth=2, num_heads=2, mlp_ratio=1.0, num_convs=2),
    "cct_4_3x2_32": dict(embed_dim=128, depth=4, num_heads=2, mlp_ratio=1.0, num_convs=2),
    "cct_6_3x2_32": dict(embed_dim=256, depth=6, num_heads=4, mlp_ratio=2.0, num_convs=2),
    "cct_7_3x1_32": dict(embed_dim=256, depth=7, num_heads=4, mlp_ratio=2.0, num_convs=1),
}


@dataclass
class CCTConfig:
    """Everything that defines a :class:`CompactTransformer` (no training settings).

    ``conv_channels`` is the width of the tokenizer's inner convolutions (the last one outputs
    ``embed_dim``). The paper trains with ``attn_dropout=0.1`` and ``drop_path_rate=0.1``.
    """

    image_size: int = 32
    in_channels: int = 3
    num_classes: int = 10
    embed_dim: int = 256
    depth: int = 7
    num_heads: int = 4
    mlp_ratio: float = 2.0
    num_convs: int = 1
    kernel_size: int = 3
    conv_channels: int = 64
    dropout: float = 0.0
    attn_dropout: float = 0.1
    drop_path_rate: float = 0.1
    fused_attn: bool = True

    def __post_init__(self):
        for name in ("image_size", "in_channels", "num_classes", "embed_dim", "depth",
                     "num_heads", "num_convs", "kernel_size", "conv_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.image_size < 2**self.num_convs:
            raise ValueError(f"image_size={self.image_size} is too small for {self.num_convs} "
                             f"convolutions (each max-pool halves it): use image_size >= "
                             f"{2**self.num_convs} or fewer num_convs.")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "CCTConfig":
        """A named size (see ``PRESETS``) with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"unknown CCT preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


class ConvTokenizer(nn.Module):
    """``num_convs`` stages of Conv(k, stride 1, no bias) -> ReLU -> MaxPool(3, stride 2), then
    the feature map read as tokens. Each stage halves H and W: 32x32 -> 16x16 (256 tokens) with
    one stage, 8x8 (64 tokens) with two.

    Args:
        in_channels: C of the images.
        embed_dim: channels of the last convolution, the token width D.
        num_convs: stages n.
        kernel_size: k.
        conv_channels: channels of the inner stages.
    """

    def __init__(self, *, in_channels: int, embed_dim: int, num_convs: int = 1,
                 kernel_size: int = 3, conv_channels: int = 64):
        super().__init__()
        widths = [in_channels] + [conv_channels] * (num_convs - 1) + [embed_dim]
        stages = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            stages += [
                nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            ]
        self.stages = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: images, (B, C, H, W).

        Returns:
            tokens, (B, N, D) with N = (H / 2^n) (W / 2^n).
        """
        x = self.stages(x)  # (B, D, H', W')
        x = x.flatten(2)  # (B, D, N)
        return x.transpose(1, 2)  # (B, N, D): one token per position of the feature map

    def num_tokens(self, image_size: int) -> int:
        """N for square images of side ``image_size``."""
        side = image_size
        for module in self.stages:
            if isinstance(module, nn.MaxPool2d):
                side = (side + 2 * 1 - 3) // 2 + 1  # the pool's output size
        return side * side


class SeqPool(nn.Module):
    """Sequence pooling (Hassani et al. 2021, eqs. 1-2): an attention-weighted mean of the tokens,

        x_w = softmax(g(x_L)^T),   z = x_w x_L,

    where g: D -> 1 is linear and the softmax runs over the N tokens. It replaces [CLS]: every
    output token contributes, by a weight the network learns.
    """

    def __init__(self, *, embed_dim: int):
        super().__init__()
        self.attention_pool = nn.Linear(embed_dim, 1)  # g

    def forward(self, x: torch.Tensor, *, return_weights: bool = False):
        """Args:
            x: tokens, (B, N, D).
            return_weights: also return the weights x_w.

        Returns:
            (B, D); with ``return_weights=True`` the pair ``(z, weights)``, weights (B, N).
        """
        scores = self.attention_pool(x)  # (B, N, 1): g(x_L)
        weights = scores.transpose(1, 2).softmax(dim=-1)  # (B, 1, N): eq. 1
        z = weights @ x  # (B, 1, D): eq. 2
        z = z.squeeze(1)  # (B, D)
        if return_weights:
            return z, weights.squeeze(1)
        return z


class CompactTransformer(nn.Module):
    """CCT: a convolutional tokenizer, learned position embeddings, minivision's transformer
    encoder, sequence pooling and a linear head.

    Args:
        config: a :class:`CCTConfig`; keyword arguments override its fields.
    """

    def __init__(self, config: CCTConfig | None = None, **overrides):
        super().__init__()
        config = replace(config or CCTConfig(), **overrides)
        self.config = config
        self.tokenizer = ConvTokenizer(
            in_channels=config.in_channels, embed_dim=config.embed_dim,
            num_convs=config.num_convs, kernel_size=config.kernel_size,
            conv_channels=config.conv_channels)
        num_tokens = self.tokenizer.num_tokens(config.image_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, config.embed_dim))  # (1, N, D)
        self.pos_drop = nn.Dropout(config.dropout)
        self.encoder = Encoder(
            depth=config.depth, embed_dim=config.embed_dim, num_heads=config.num_heads,
            mlp_ratio=config.mlp_ratio, qkv_bias=False, dropout=config.dropout,
            attn_dropout=config.attn_dropout, drop_path_rate=config.drop_path_rate,
            fused=config.fused_attn)
        self.pool = SeqPool(embed_dim=config.embed_dim)
        self.head = nn.Linear(config.embed_dim, config.num_classes)
        self.check_finite = False
        self.init_weights()

    def init_weights(self):
        """The CCT reference's scheme: truncated normal std 0.02 for Linear weights and 0.2 for
        the position embeddings, zero biases, LayerNorm at identity, Kaiming normal (fan-in) for
        the tokenizer's convolutions (they feed ReLUs)."""
        nn.init.trunc_normal_(self.pos_embed, std=0.2)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)

    def no_weight_decay(self) -> set[str]:
        """The parameters besides the 1-D ones that take no weight decay: the position
        embeddings, vectors the model looks up (see :mod:`minivision.models.protocol`)."""
        return {"pos_embed"}

    def get_classifier(self) -> nn.Module:
        """The head: the layer that "head" fine-tuning trains and a new task replaces."""
        return self.head

    def gradcam_layer(self) -> nn.Module:
        """The tokenizer: its feature map is the tokens' image, (B, D, H', W')."""
        return self.tokenizer.stages

    @property
    def num_prefix_tokens(self) -> int:
        """No token comes before the image's: SeqPool replaces [CLS]."""
        return 0

    def patch_grid(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(g_h, g_w): the grid of tokens for images of ``image_size`` = (H, W) pixels."""
        side = int(self.tokenizer.num_tokens(image_size[0]) ** 0.5)
        return side, int(self.tokenizer.num_tokens(image_size[1]) ** 0.5)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: images, (B, C, H, W) with H = W = ``config.image_size``.

        Returns:
            tokens after the final LayerNorm, (B, N, D).
        """
        self._check_input(x)
        x = self.tokenizer(x)  # (B, N, D)
        x = x + self.pos_embed  # (B, N, D)
        x = self.pos_drop(x)
        return self.encoder(x)  # (B, N, D)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) tokens -> (B, num_classes) logits, through SeqPool."""
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

    def _check_input(self, x: torch.Tensor) -> None:
        """A ValueError naming the fix for integer images or a size the model was not built for."""
        check_image_dtype(x, self.pos_embed)
        size, channels = self.config.image_size, self.config.in_channels
        if x.ndim != 4 or x.shape[1] != channels or x.shape[-2:] != (size, size):
            raise ValueError(f"CCT expects images (B, {channels}, {size}, {size}), got "
                             f"{tuple(x.shape)}: resize the images, or build the model with "
                             f"image_size= and in_channels= to match.")
        if self.check_finite:
            check_finite(x)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "CompactTransformer":
        """Build a randomly initialised model of a named size (``PRESETS``)."""
        return cls(CCTConfig.from_preset(name, **overrides))


__all__ = ["PRESETS", "CCTConfig", "CompactTransformer", "ConvTokenizer", "SeqPool"]

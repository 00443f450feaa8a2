"""The pre-norm transformer block of ViT (Dosovitskiy et al. 2021, eqs. 2-3):

    x' = x  + MSA(LN(x))        (eq. 2)
    y  = x' + MLP(LN(x'))       (eq. 3)

Normalising *before* each sub-layer (pre-norm, Xiong et al. 2020) leaves an untouched residual
path from input to output, which is why deep ViTs train without a learning-rate warmup trick
being strictly necessary, though warmup still helps (lesson 04).
"""
import torch
from torch import nn

from .attention import Attention
from .mlp import Mlp


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016): in training, drop a sample's whole residual branch
    with probability ``p`` and scale the kept ones by 1 / (1 - p). x: (B, ...)."""
    if p == 0.0 or not training:
        return x
    keep = torch.empty(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype)
    keep = keep.bernoulli_(1.0 - p)  # (B, 1, 1): 1 keeps the branch, 0 drops it
    return x * keep / (1.0 - p)


class Block(nn.Module):
    """Pre-norm residual block: attention then MLP, each behind a LayerNorm.

    Args:
        embed_dim: token width D.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / D.
        qkv_bias: bias in the q, k, v projections.
        dropout: dropout after the attention projection and inside the MLP.
        attn_dropout: dropout on the attention weights.
        drop_path: stochastic-depth rate of both residual branches.
        norm_eps: LayerNorm epsilon (timm and torchvision: 1e-6, HF: 1e-12).
        fused: use the fused attention kernel.
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
        fused: bool = True,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.attn = Attention(
            embed_dim=embed_dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            attn_dropout=attn_dropout,
            proj_dropout=dropout,
            fused=fused,
        )
        self.norm2 = nn.LayerNorm(embed_dim, eps=norm_eps)
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = Mlp(in_features=embed_dim, hidden_features=hidden, dropout=dropout)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor, *, return_attn: bool = False):
        """Args:
            x: tokens, (B, N, D).
            return_attn: also return this block's attention weights.

        Returns:
            (B, N, D); with ``return_attn=True`` the pair ``(x, attn)``, attn (B, h, N, N).
        """
        attn = None
        if return_attn:
            y, attn = self.attn(self.norm1(x), return_attn=True)
        else:
            y = self.attn(self.norm1(x))
        x = x + drop_path(y, self.drop_path, self.training)  # eq. 2
        y = self.mlp(self.norm2(x))
        x = x + drop_path(y, self.drop_path, self.training)  # eq. 3
        if return_attn:
            return x, attn
        return x

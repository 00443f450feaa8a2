"""Cross-attention: queries from one sequence, keys and values from another.

The same scaled dot-product attention as :mod:`minivision.layers.attention` (Vaswani et al. 2017,
eq. 1), but Q comes from the tokens x (B, N, D) and K, V from a context (B, M, D_ctx), for
example text embeddings: the decoder's "encoder-decoder attention" of Vaswani et al. (sec. 3.2.3),
used in lesson 10 so that image tokens can read from a caption. The output has one row per query,
(B, N, D); the weights (B, h, N, M) say how much each image token reads from each context token.

A key padding mask (B, M), True where the context token is padding (the convention of
``nn.MultiheadAttention``), stops the queries from attending to those positions.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .mlp import Mlp


class CrossAttention(nn.Module):
    """Multi-head attention of x (queries) over a context (keys and values).

    Args:
        embed_dim: width D of x and of the output; divisible by ``num_heads``.
        context_dim: width D_ctx of the context; projected to D. Defaults to ``embed_dim``.
        num_heads: number of heads h, each of width d = D / h.
        qkv_bias: learn a bias in the q, k, v projections.
        attn_dropout: dropout on the attention weights (training only).
        proj_dropout: dropout after the output projection (training only).
        fused: use ``F.scaled_dot_product_attention`` when the weights are not asked for.
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        context_dim: int | None = None,
        num_heads: int = 8,
        qkv_bias: bool = True,
        attn_dropout: float = 0.0,
        proj_dropout: float = 0.0,
        fused: bool = True,
    ):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}.")
        context_dim = context_dim or embed_dim
        self.embed_dim = embed_dim
        self.context_dim = context_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused = fused
        self.attn_dropout = attn_dropout
        self.q = nn.Linear(embed_dim, embed_dim, bias=qkv_bias)
        self.k = nn.Linear(context_dim, embed_dim, bias=qkv_bias)  # the context is projected to D
        self.v = nn.Linear(context_dim, embed_dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_dropout)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.proj_drop = nn.Dropout(proj_dropout)

    def forward(self, x, context, *, key_padding_mask=None, return_attn: bool = False):
        """Args:
            x: queries, (B, N, D).
            context: keys and values, (B, M, D_ctx).
            key_padding_mask: optional bool (B, M); True marks padding that no query may attend to.
            return_attn: also return the weights (takes the explicit path).

        Returns:
            (B, N, D); with ``return_attn=True`` the pair ``(x, attn)``, attn (B, h, N, M).
        """
        self._check_shapes(x, context, key_padding_mask)
        B, N, D = x.shape
        M = context.shape[1]
        h, d = self.num_heads, self.head_dim
        q = self.q(x).reshape(B, N, h, d).transpose(1, 2)  # (B, h, N, d)
        k = self.k(context).reshape(B, M, h, d).transpose(1, 2)  # (B, h, M, d)
        v = self.v(context).reshape(B, M, h, d).transpose(1, 2)  # (B, h, M, d)
        keep = None
        if key_padding_mask is not None:
            keep = ~key_padding_mask.reshape(B, 1, 1, M)  # (B, 1, 1, M): True = may attend

        attn = None
        if self.fused and not return_attn:
            dropout_p = self.attn_dropout if self.training else 0.0
            x = F.scaled_dot_product_attention(
                q, k, v, attn_mask=keep, dropout_p=dropout_p
            )  # (B, h, N, d)
        else:
            scores = (q @ k.transpose(-2, -1)) * self.scale  # (B, h, N, M)
            if keep is not None:
                scores = scores.masked_fill(~keep, float("-inf"))  # exp(-inf) = 0: no weight
            attn = scores.softmax(dim=-1)  # (B, h, N, M): each row sums to 1 over the context
            x = self.attn_drop(attn) @ v  # (B, h, N, d)

        x = x.transpose(1, 2).reshape(B, N, D)  # (B, N, D): the heads side by side again
        x = self.proj_drop(self.proj(x))  # (B, N, D)
        if return_attn:
            return x, attn
        return x

    def _check_shapes(self, x, context, key_padding_mask):
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"x must be (B, N, {self.embed_dim}), got {tuple(x.shape)}.")
        if context.dim() != 3 or context.shape[-1] != self.context_dim:
            raise ValueError(
                f"context must be (B, M, {self.context_dim}), got {tuple(context.shape)}. "
                f"Build the "
                f"layer with context_dim={context.shape[-1]} if the context width is right."
            )
        if context.shape[0] != x.shape[0]:
            raise ValueError(
                f"x and context have different batch sizes: {x.shape[0]} vs {context.shape[0]}."
            )
        if key_padding_mask is not None and key_padding_mask.shape != context.shape[:2]:
            raise ValueError(
                f"key_padding_mask must be (B, M) = {tuple(context.shape[:2])}, "
                f"got {tuple(key_padding_mask.shape)}."
            )
        if key_padding_mask is not None and key_padding_mask.dtype != torch.bool:
            raise ValueError(
                f"key_padding_mask must be a bool tensor (True = padding), got "
                f"{key_padding_mask.dtype}. Use mask.bool()."
            )


class CrossAttentionBlock(nn.Module):
    """A pre-norm transformer block whose attention reads from a context:

        x = x + CrossAttn(LN(x), LN_ctx(context))
        x = x + MLP(LN(x))

    Args:
        embed_dim, context_dim, num_heads, qkv_bias, attn_dropout, fused: see
            :class:`CrossAttention`.
        mlp_ratio: MLP hidden width / D.
        dropout: dropout after the attention projection and inside the MLP.
        norm_eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        context_dim: int | None = None,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        norm_eps: float = 1e-6,
        fused: bool = True,
    ):
        super().__init__()
        context_dim = context_dim or embed_dim
        self.norm1 = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.norm_context = nn.LayerNorm(context_dim, eps=norm_eps)  # the context has its own scale
        self.attn = CrossAttention(
            embed_dim=embed_dim,
            context_dim=context_dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            attn_dropout=attn_dropout,
            proj_dropout=dropout,
            fused=fused,
        )
        self.norm2 = nn.LayerNorm(embed_dim, eps=norm_eps)
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = Mlp(in_features=embed_dim, hidden_features=hidden, dropout=dropout)

    def forward(self, x, context, *, key_padding_mask=None, return_attn: bool = False):
        """Args:
            x: tokens, (B, N, D).
            context: (B, M, D_ctx).
            key_padding_mask: optional bool (B, M), True = padding.
            return_attn: also return the cross-attention weights.

        Returns:
            (B, N, D); with ``return_attn=True`` the pair ``(x, attn)``, attn (B, h, N, M).
        """
        context = self.norm_context(context)  # (B, M, D_ctx)
        mask = key_padding_mask
        attn = None
        if return_attn:
            y, attn = self.attn(self.norm1(x), context, key_padding_mask=mask, return_attn=True)
        else:
            y = self.attn(self.norm1(x), context, key_padding_mask=mask)
        x = x + y  # (B, N, D)
        x = x + self.mlp(self.norm2(x))
        if return_attn:
            return x, attn
        return x

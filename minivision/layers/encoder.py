"""The transformer encoder of ViT: L pre-norm blocks, then a final LayerNorm (ViT eqs. 2-4).

It can hand back every intermediate result a lesson wants to look at: the hidden state after each
block (for CKA and token similarity, lesson 08) and every block's attention weights (for attention
maps and rollout, lesson 06).
"""
from dataclasses import dataclass

import torch
from torch import nn

from .block import Block


@dataclass
class EncoderOutput:
    """What :class:`Encoder` returns when asked for more than the last tokens.

    Attributes:
        last_hidden_state: (B, N, D), after the final LayerNorm.
        hidden_states: L + 1 tensors (B, N, D): the input, then the output of each block
            (before the final LayerNorm); None unless requested.
        attentions: L tensors (B, h, N, N), one per block; None unless requested.
    """

    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class Encoder(nn.Module):
    """A stack of ``depth`` :class:`Block` s and a final LayerNorm.

    Args:
        depth: number of blocks L.
        embed_dim, num_heads, mlp_ratio, qkv_bias, dropout, attn_dropout, norm_eps, fused:
            passed to every :class:`Block`.
        drop_path_rate: stochastic depth of the last block; it rises linearly from 0 at the
            first block (Touvron et al. 2021, DeiT).
    """

    def __init__(
        self,
        *,
        depth: int,
        embed_dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_eps: float = 1e-6,
        fused: bool = True,
    ):
        super().__init__()
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(
                embed_dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                dropout=dropout,
                attn_dropout=attn_dropout,
                drop_path=rate,
                norm_eps=norm_eps,
                fused=fused,
            )
            for rate in rates
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)

    def forward(self, x: torch.Tensor, *, output_hidden_states: bool = False, return_attn: bool = False):
        """Args:
            x: tokens, (B, N, D).
            output_hidden_states: also return the input and every block's output.
            return_attn: also return every block's attention weights (explicit attention path).

        Returns:
            (B, N, D) after the final LayerNorm; an :class:`EncoderOutput` if either flag is set.
        """
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if return_attn else None
        for block in self.blocks:
            if return_attn:
                x, attn = block(x, return_attn=True)
                attentions.append(attn)
            else:
                x = block(x)
            if output_hidden_states:
                hidden_states.append(x)
        x = self.norm(x)  # (B, N, D)
        if not (output_hidden_states or return_attn):
            return x
        return EncoderOutput(
            last_hidden_state=x,
            hidden_states=tuple(hidden_states) if hidden_states is not None else None,
            attentions=tuple(attentions) if attentions is not None else None,
        )

"""Multi-head self-attention, written out by hand, with a fused fast path.

Implements scaled dot-product attention (Vaswani et al. 2017, eq. 1),

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V,

run in h heads of width d = D / h side by side, then mixed by an output projection: the MSA of
ViT (Dosovitskiy et al. 2021, eq. 2 and appendix A).

The explicit path below is the reference and the one a lesson reads. ``fused=True`` computes the
same thing with ``F.scaled_dot_product_attention``, which never builds the (N, N) weight matrix in
memory on GPUs (FlashAttention) and so cannot return it: asking for the weights always takes the
explicit path.
"""
import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention over a sequence of tokens.

    Args:
        embed_dim: token width D; must be divisible by ``num_heads``.
        num_heads: number of heads h; each has width d = D / h.
        qkv_bias: learn a bias in the q, k, v projections (ViT: yes).
        attn_dropout: dropout on the attention weights (training only).
        proj_dropout: dropout after the output projection (training only).
        fused: use ``F.scaled_dot_product_attention`` for the forward pass.
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        attn_dropout: float = 0.0,
        proj_dropout: float = 0.0,
        fused: bool = True,
    ):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}: every head "
                f"needs the same width d = embed_dim / num_heads. Choose num_heads from "
                f"{[h for h in range(1, min(embed_dim, 32) + 1) if embed_dim % h == 0]}, or change embed_dim."
            )
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scale = self.head_dim**-0.5  # 1 / sqrt(d): keeps the logits' variance near 1
        self.fused = fused
        self.attn_dropout = attn_dropout
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=qkv_bias)  # W_q, W_k, W_v side by side
        self.attn_drop = nn.Dropout(attn_dropout)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.proj_drop = nn.Dropout(proj_dropout)

    def forward(self, x: torch.Tensor, *, return_attn: bool = False):
        """Args:
            x: tokens, (B, N, D).
            return_attn: also return the attention weights (takes the explicit path).

        Returns:
            (B, N, D); with ``return_attn=True`` the pair ``(x, attn)`` where ``attn`` is
            (B, h, N, N), each row a probability distribution over the N keys (before dropout).
        """
        _check_tokens(x, self.qkv.in_features)
        B, N, D = x.shape
        qkv = self.qkv(x)  # (B, N, 3D)
        qkv = qkv.reshape(B, N, 3, self.num_heads, self.head_dim)  # (B, N, 3, h, d)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, h, N, d)
        q, k, v = qkv.unbind(0)  # each (B, h, N, d)

        if self.fused and not return_attn:
            dropout_p = self.attn_dropout if self.training else 0.0
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)  # (B, h, N, d)
            attn = None
        else:
            x, attn = scaled_dot_product_attention(q, k, v, self.scale, self.attn_drop)

        x = x.transpose(1, 2)  # (B, N, h, d)
        x = x.reshape(B, N, D)  # (B, N, D): the heads side by side again
        x = self.proj(x)  # (B, N, D)
        x = self.proj_drop(x)
        if return_attn:
            return x, attn
        return x


def _check_tokens(x: torch.Tensor, embed_dim: int) -> None:
    """A ValueError naming the fix unless ``x`` is (B, N, embed_dim)."""
    if x.ndim == 3 and x.shape[-1] == embed_dim:
        return
    hint = {2: "for one sequence of tokens use x.unsqueeze(0)",
            4: "images (B, C, H, W) become tokens through PatchEmbeddings first"}.get(x.ndim, "")
    if x.ndim == 3:
        hint = f"build Attention(embed_dim={x.shape[-1]}, ...) or project the tokens to {embed_dim}"
    raise ValueError(f"Attention expects tokens of shape (B, N, D={embed_dim}), got a tensor of "
                     f"shape {tuple(x.shape)}" + (f"; {hint}." if hint else "."))


def scaled_dot_product_attention(q, k, v, scale: float, attn_drop: nn.Module | None = None):
    """softmax(q k^T * scale) v, step by step (Vaswani et al. 2017, eq. 1).

    Args:
        q: queries, (B, h, N_q, d).
        k, v: keys and values, (B, h, N_k, d).
        scale: usually 1 / sqrt(d).
        attn_drop: dropout applied to the weights before they mix the values.

    Returns:
        ``(out, attn)``: out (B, h, N_q, d) and the weights attn (B, h, N_q, N_k), before dropout.
    """
    scores = q @ k.transpose(-2, -1)  # (B, h, N_q, N_k): similarity of each query with each key
    scores = scores * scale
    attn = scores.softmax(dim=-1)  # (B, h, N_q, N_k): each row sums to 1
    weights = attn_drop(attn) if attn_drop is not None else attn
    out = weights @ v  # (B, h, N_q, d): a weighted average of the values
    return out, attn

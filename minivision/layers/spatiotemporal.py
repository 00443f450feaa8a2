"""Factorised space-time transformers for video: ViViT models 2 and 3 (Arnab et al. 2021).

A clip of T frames with N patches each gives T*N tokens; full self-attention over all of them
costs (T*N)^2. ViViT factorises it:

- Model 3, factorised self-attention (:class:`FactorisedSelfAttentionBlock`): inside each block,
  spatial attention among the N patches of one frame, then temporal attention among the T frames
  at one patch position, then the MLP; cost T*N^2 + N*T^2. The paper puts no [CLS] token inside
  these blocks (sec. 3.3): a [CLS] would be a token of no frame and no position, so it has no
  place in either factor; the model pools the tokens at the end instead.
- Model 2, factorised encoder (:class:`FactorisedEncoder`): a spatial transformer runs on every
  frame on its own and summarises it by its [CLS] token; a temporal transformer with its own
  [CLS] then runs over those T frame tokens (:class:`TemporalEncoder`).

The attention and the MLP are minivision's own :class:`Attention` and :class:`Mlp`; only the
reshapes that choose which tokens attend to which are new here.
"""
import torch
from torch import nn

from .attention import Attention
from .block import drop_path
from .encoder import Encoder
from .mlp import Mlp


class FactorisedSelfAttentionBlock(nn.Module):
    """ViViT model 3 block: spatial attention, temporal attention, MLP; each pre-norm residual.

    Args:
        embed_dim, num_heads, mlp_ratio, qkv_bias, dropout, attn_dropout, norm_eps, fused: as for
            :class:`minivision.layers.Block`; both attentions use the same settings.
        drop_path: stochastic-depth rate of the three residual branches.
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
        attn_kwargs = dict(
            embed_dim=embed_dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            attn_dropout=attn_dropout,
            proj_dropout=dropout,
            fused=fused,
        )
        self.norm1 = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.attn = Attention(**attn_kwargs)  # spatial: the N patches of one frame
        self.norm_temporal = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.temporal_attn = Attention(**attn_kwargs)  # temporal: the T frames at one position
        self.norm2 = nn.LayerNorm(embed_dim, eps=norm_eps)
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = Mlp(in_features=embed_dim, hidden_features=hidden, dropout=dropout)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: tokens, (B, T, N, D): T frames of N patch tokens (no [CLS]).

        Returns:
            (B, T, N, D).
        """
        B, T, N, D = x.shape
        # Spatial attention: every frame is its own sequence of N tokens.
        x = x.reshape(B * T, N, D)  # (B*T, N, D)
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path, self.training)
        # Temporal attention: every patch position is its own sequence of T tokens.
        x = x.reshape(B, T, N, D).transpose(1, 2)  # (B, N, T, D)
        x = x.reshape(B * N, T, D)  # (B*N, T, D)
        x = x + drop_path(self.temporal_attn(self.norm_temporal(x)), self.drop_path, self.training)
        x = x.reshape(B, N, T, D).transpose(1, 2)  # (B, T, N, D)
        # The MLP acts on each token alone, so the layout does not matter.
        x = x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)
        return x


class TemporalEncoder(nn.Module):
    """A transformer over one token per frame, with its own [CLS] and temporal position embeddings.

    Args:
        num_frames: T.
        depth: number of :class:`Block` s.
        embed_dim, num_heads, mlp_ratio, dropout, attn_dropout, norm_eps, fused: passed to the
            :class:`Encoder`.
    """

    def __init__(
        self,
        *,
        num_frames: int,
        depth: int,
        embed_dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        norm_eps: float = 1e-6,
        fused: bool = True,
    ):
        super().__init__()
        self.num_frames = num_frames
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_frames + 1, embed_dim))  # frame order
        self.encoder = Encoder(
            depth=depth,
            embed_dim=embed_dim,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            attn_dropout=attn_dropout,
            norm_eps=norm_eps,
            fused=fused,
        )
        nn.init.trunc_normal_(self.pos_embed, std=0.02)  # as ViT's positions (timm init)
        nn.init.normal_(self.cls_token, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: one token per frame, (B, T, D).

        Returns:
            (B, 1 + T, D) after the final LayerNorm; index 0 is the clip's [CLS].
        """
        B, T, D = x.shape
        if T != self.num_frames:
            raise ValueError(
                f"expected {self.num_frames} frames, got {T}; build it with num_frames={T}."
            )
        cls = self.cls_token.expand(B, 1, D)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1)  # (B, 1 + T, D)
        x = x + self.pos_embed
        return self.encoder(x)  # (B, 1 + T, D)


class FactorisedEncoder(nn.Module):
    """ViViT model 2: a spatial :class:`Encoder` per frame, then a :class:`TemporalEncoder`.

    Args:
        num_frames: T.
        spatial_depth: blocks of the spatial encoder (L_s).
        temporal_depth: blocks of the temporal encoder (L_t).
        embed_dim, num_heads, mlp_ratio, dropout, attn_dropout, norm_eps, fused: shared by both.
    """

    def __init__(
        self,
        *,
        num_frames: int,
        spatial_depth: int,
        temporal_depth: int,
        embed_dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        norm_eps: float = 1e-6,
        fused: bool = True,
    ):
        super().__init__()
        common = dict(
            embed_dim=embed_dim,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            attn_dropout=attn_dropout,
            norm_eps=norm_eps,
            fused=fused,
        )
        self.spatial = Encoder(depth=spatial_depth, **common)
        self.temporal = TemporalEncoder(num_frames=num_frames, depth=temporal_depth, **common)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: tokens, (B, T, N, D); token 0 of every frame is that frame's [CLS].

        Returns:
            (B, 1 + T, D): the temporal encoder's tokens, index 0 the clip's [CLS].
        """
        B, T, N, D = x.shape
        x = x.reshape(B * T, N, D)  # (B*T, N, D): frames never see each other here
        x = self.spatial(x)  # (B*T, N, D)
        x = x[:, 0]  # (B*T, D): each frame's [CLS]
        x = x.reshape(B, T, D)  # (B, T, D)
        return self.temporal(x)  # (B, 1 + T, D)

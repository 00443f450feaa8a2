"""Video classifiers built from the spatio-temporal layers (ViViT, Arnab et al. 2021), lesson 09.

Every model takes clips (B, T, C, H, W) and returns logits (B, num_classes).

- :class:`FactorisedSelfAttentionViT`: ViViT model 3. Patches of every frame, spatial and temporal
  position embeddings, :class:`FactorisedSelfAttentionBlock` s, mean of all tokens, head.
- :class:`FactorisedEncoderViT`: ViViT model 2. A [CLS] per frame, :class:`FactorisedEncoder`,
  the clip [CLS] into the head.
- :class:`PerFrameViT`: the baseline that ignores time: classify every frame, average the logits.
- :class:`PseudoVideoClassifier`: the course exercise: a (pretrained) spatial ViT gives a [CLS]
  per frame; 1 or 2 temporal blocks with their own [CLS]; a linear head.

vit-pytorch's ``vivit.py`` takes (B, C, T, H, W); use ``clip.permute(0, 2, 1, 3, 4)`` to convert.
"""
import torch
from torch import nn

from ..layers import PatchEmbeddings
from ..layers.spatiotemporal import FactorisedEncoder, FactorisedSelfAttentionBlock, TemporalEncoder
from .vit import ViTConfig, VisionTransformer


def _check_clip(x: torch.Tensor, num_frames: int | None = None):
    if x.dim() != 5:
        raise ValueError(f"expected clips of shape (B, T, C, H, W), got {tuple(x.shape)}.")
    if num_frames is not None and x.shape[1] != num_frames:
        raise ValueError(
            f"expected {num_frames} frames, got {x.shape[1]} (clip shape {tuple(x.shape)})."
        )


def _init_linear_and_norm(module: nn.Module):
    """timm's ViT init (as :meth:`VisionTransformer.init_weights`) for Linear and LayerNorm."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class FactorisedSelfAttentionViT(nn.Module):
    """ViViT model 3 (factorised self-attention) for clips of ``num_frames`` square frames.

    Args:
        num_frames: T. image_size, patch_size, in_channels: of one frame.
        num_classes: outputs of the head. embed_dim, depth, num_heads, mlp_ratio, dropout, fused:
            as for :class:`minivision.models.ViTConfig`.
    """

    def __init__(
        self,
        *,
        num_frames: int,
        image_size: int = 32,
        patch_size: int = 4,
        in_channels: int = 3,
        num_classes: int = 10,
        embed_dim: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        fused: bool = True,
    ):
        super().__init__()
        self.num_frames = num_frames
        self.patch_embed = PatchEmbeddings(
            image_size=image_size,
            patch_size=patch_size,
            in_channels=in_channels,
            embed_dim=embed_dim,
        )
        N = self.patch_embed.num_patches
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, N, embed_dim))  # where in the frame
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, num_frames, 1, embed_dim))  # when
        self.blocks = nn.ModuleList(
            FactorisedSelfAttentionBlock(
                embed_dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                dropout=dropout,
                fused=fused,
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.temporal_pos_embed, std=0.02)
        _init_linear_and_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: clips, (B, T, C, H, W).

        Returns:
            logits, (B, num_classes).
        """
        _check_clip(x, self.num_frames)
        B, T, C, H, W = x.shape
        x = self.patch_embed(x.reshape(B * T, C, H, W))  # (B*T, N, D)
        x = x.reshape(B, T, x.shape[1], x.shape[2])  # (B, T, N, D)
        x = x + self.pos_embed + self.temporal_pos_embed  # broadcast: (1, 1, N, D) + (1, T, 1, D)
        for block in self.blocks:
            x = block(x)  # (B, T, N, D)
        x = self.norm(x)
        x = x.mean(dim=(1, 2))  # (B, D): no [CLS] in model 3, so pool every token
        return self.head(x)  # (B, num_classes)

    # What the model tells training code (the contract: models/protocol.py).
    def no_weight_decay(self) -> set[str]:
        """The spatial position embeddings. ``temporal_pos_embed`` keeps its weight decay, as in
        the runs of lesson 09 (the name rule used before did not list it)."""
        return {"pos_embed"}

    def get_classifier(self) -> nn.Module:
        return self.head


class FactorisedEncoderViT(nn.Module):
    """ViViT model 2 (factorised encoder). Arguments as :class:`FactorisedSelfAttentionViT`, with
    ``spatial_depth`` and ``temporal_depth`` in place of ``depth``."""

    def __init__(
        self,
        *,
        num_frames: int,
        image_size: int = 32,
        patch_size: int = 4,
        in_channels: int = 3,
        num_classes: int = 10,
        embed_dim: int = 64,
        spatial_depth: int = 4,
        temporal_depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        fused: bool = True,
    ):
        super().__init__()
        self.num_frames = num_frames
        self.patch_embed = PatchEmbeddings(
            image_size=image_size,
            patch_size=patch_size,
            in_channels=in_channels,
            embed_dim=embed_dim,
        )
        N = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 1, embed_dim))  # one [CLS] per frame
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, N + 1, embed_dim))
        self.encoder = FactorisedEncoder(
            num_frames=num_frames,
            spatial_depth=spatial_depth,
            temporal_depth=temporal_depth,
            embed_dim=embed_dim,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            fused=fused,
        )
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        _init_linear_and_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: clips, (B, T, C, H, W).

        Returns:
            logits, (B, num_classes).
        """
        _check_clip(x, self.num_frames)
        B, T, C, H, W = x.shape
        x = self.patch_embed(x.reshape(B * T, C, H, W))  # (B*T, N, D)
        x = x.reshape(B, T, x.shape[1], x.shape[2])  # (B, T, N, D)
        cls = self.cls_token.expand(B, T, 1, x.shape[-1])  # (B, T, 1, D)
        x = torch.cat([cls, x], dim=2)  # (B, T, 1 + N, D)
        x = x + self.pos_embed
        x = self.encoder(x)  # (B, 1 + T, D)
        return self.head(x[:, 0])  # (B, num_classes)

    # What the model tells training code (the contract: models/protocol.py).
    def no_weight_decay(self) -> set[str]:
        """The frames' [CLS] and positions, and those of the temporal encoder."""
        return {"cls_token", "pos_embed", "encoder.temporal.cls_token",
                "encoder.temporal.pos_embed"}

    def get_classifier(self) -> nn.Module:
        return self.head


class PerFrameViT(nn.Module):
    """Classify every frame with an image classifier and average the logits (no notion of time).

    Args:
        backbone: any image classifier (B, C, H, W) -> (B, num_classes), e.g. a VisionTransformer.
    """

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: clips, (B, T, C, H, W).

        Returns:
            logits averaged over the frames, (B, num_classes).
        """
        _check_clip(x)
        B, T, C, H, W = x.shape
        logits = self.backbone(x.reshape(B * T, C, H, W))  # (B*T, K)
        return logits.reshape(B, T, -1).mean(dim=1)  # (B, K)


class PseudoVideoClassifier(nn.Module):
    """A spatial ViT per frame, then temporal blocks over the frames' [CLS] tokens, then a head.

    Args:
        backbone: a :class:`minivision.models.VisionTransformer` (for example the one pretrained
            in lesson 08); its ``forward_features`` and ``pool`` give one token per frame. Its
            weights are kept as they are.
        num_frames: T. num_classes: outputs of the head.
        temporal_depth: temporal blocks (the exercise compares 1 and 2).
        num_heads: heads of the temporal blocks; defaults to the backbone's.
    """

    def __init__(
        self,
        backbone: VisionTransformer,
        *,
        num_frames: int,
        num_classes: int,
        temporal_depth: int = 1,
        num_heads: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        config = getattr(backbone, "config", None)
        if not isinstance(config, ViTConfig):  # its width, heads and norm size the new blocks
            raise ValueError(f"PseudoVideoClassifier needs a minivision VisionTransformer "
                             f"backbone, got {type(backbone).__name__}; import a timm or Hugging "
                             f"Face ViT with minivision.models.load_timm or load_hf.")
        self.backbone = backbone
        self.num_frames = num_frames
        self.temporal = TemporalEncoder(
            num_frames=num_frames,
            depth=temporal_depth,
            embed_dim=config.embed_dim,
            num_heads=num_heads or config.num_heads,
            mlp_ratio=config.mlp_ratio,
            dropout=dropout,
            norm_eps=config.norm_eps,
            fused=config.fused_attn,
        )
        self.head = nn.Linear(config.embed_dim, num_classes)
        _init_linear_and_norm(self.temporal)  # only the new parts: the backbone may be pretrained
        _init_linear_and_norm(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: clips, (B, T, C, H, W).

        Returns:
            logits, (B, num_classes).
        """
        _check_clip(x, self.num_frames)
        B, T, C, H, W = x.shape
        frames = self.backbone.forward_features(x.reshape(B * T, C, H, W))  # (B*T, N, D)
        frames = self.backbone.pool(frames)  # (B*T, D): each frame's [CLS]
        x = self.temporal(frames.reshape(B, T, -1))  # (B, 1 + T, D)
        return self.head(x[:, 0])  # (B, num_classes)

    # What the model tells training code (the contract: models/protocol.py).
    def no_weight_decay(self) -> set[str]:
        """The temporal [CLS] and positions; the backbone answers for its own parameters."""
        return {"temporal.cls_token", "temporal.pos_embed"}

    def get_classifier(self) -> nn.Module:
        return self.head

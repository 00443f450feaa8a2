"""Video classifiers built from the spatio-temporal layers (ViViT, Arnab et al. 2021), lesson 09.

Every model takes clips (B, T, C, H, W) and returns logits (B, num_classes).

- :class:`FactorisedSelfAttentionViT`: ViViT model 3. Patches of every frame, spatial and temporal
  position embeddings, :class:`FactorisedSelfAttentionBlock` s, mean of all tokens, head.
- :class:`FactorisedEncoderViT`: ViViT model 2. A [CLS] per frame, :class:`FactorisedEncoder`,
  the clip [CLS] into the head.
- :class:`PerFrameViT`: the baseline that ignores time: classify every frame, average the logits.
- :class:`PseudoVideoClassifier`: the course exercise: a (pretrained) spatial ViT gives a [CLS]
  per frame; 1 or 2 temporal blocks with their own [CLS]; a linear head. Lesson 09 saves its
  two-block model for lesson 10, which reads images as still clips of it
  (:meth:`PseudoVideoClassifier.still_features`, :class:`~minivision.models.StillClipEncoder`).

vit-pytorch's ``vivit.py`` takes (B, C, T, H, W); use ``clip.permute(0, 2, 1, 3, 4)`` to convert.
"""
import torch
from torch import nn

from ..layers import PatchEmbeddings
from ..layers.spatiotemporal import FactorisedEncoder, FactorisedSelfAttentionBlock, TemporalEncoder
from .init import init_linear_and_norm
from .vit import ViTConfig, VisionTransformer


def _check_clip(x: torch.Tensor, num_frames: int | None = None):
    if x.dim() != 5:
        raise ValueError(f"expected clips of shape (B, T, C, H, W), got {tuple(x.shape)}.")
    if num_frames is not None and x.shape[1] != num_frames:
        raise ValueError(
            f"expected {num_frames} frames, got {x.shape[1]} (clip shape {tuple(x.shape)})."
        )


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
        init_linear_and_norm(self)

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
        """Both position embeddings, spatial and temporal: decay would pull them towards zero,
        which erases position rather than regularising (ViT, ViViT and timm exempt them too)."""
        return {"pos_embed", "temporal_pos_embed"}

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
        init_linear_and_norm(self)

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

    Like :class:`VisionTransformer` it splits ``forward`` into ``forward_features`` (the
    temporal tokens) and ``forward_head``, so a block can be added between the two (lesson 10's
    cross-attention, through :class:`~minivision.models.StillClipEncoder`).
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
        init_linear_and_norm(self.temporal)  # only the new parts: the backbone may be pretrained
        init_linear_and_norm(self.head)

    @property
    def config(self) -> ViTConfig:
        """The frame encoder's config: the width, heads, MLP ratio and norm of every token this
        model makes (its temporal blocks are built from it, and so is a block put on top)."""
        return self.backbone.config

    def frame_tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """(B', C, H, W) frames -> (B', D): each frame's pooled token ([CLS])."""
        x = self.backbone.forward_features(frames)  # (B', N, D)
        return self.backbone.pool(x)  # (B', D)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: clips, (B, T, C, H, W).

        Returns:
            the temporal tokens after the final LayerNorm, (B, 1 + T, D); 0 is the clip's [CLS].
        """
        _check_clip(x, self.num_frames)
        B, T, C, H, W = x.shape
        frames = self.frame_tokens(x.reshape(B * T, C, H, W))  # (B*T, D)
        return self.temporal(frames.reshape(B, T, -1))  # (B, 1 + T, D)

    def still_features(self, images: torch.Tensor) -> torch.Tensor:
        """Images as still clips, each image in all T frames (the course's test input): the
        same tokens as ``forward_features`` of the repeated images, with one backbone pass per
        image instead of T (without dropout; with it, T copies would get T different masks).

        Args:
            images: (B, C, H, W).

        Returns:
            (B, 1 + T, D), as :meth:`forward_features`.
        """
        if images.dim() != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(images.shape)}; "
                             "clips (B, T, C, H, W) go to forward_features.")
        frame = self.frame_tokens(images)  # (B, D)
        frames = frame[:, None].expand(-1, self.num_frames, -1)  # (B, T, D): one frame, T times
        return self.temporal(frames)  # (B, 1 + T, D)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1 + T, D) temporal tokens -> (B, D): the clip's [CLS]."""
        return x[:, 0]

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1 + T, D) temporal tokens -> (B, num_classes) logits."""
        return self.head(self.pool(x))  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: clips, (B, T, C, H, W).

        Returns:
            logits, (B, num_classes).
        """
        x = self.forward_features(x)  # (B, 1 + T, D)
        return self.forward_head(x)

    # What the model tells training code (the contract: models/protocol.py).
    def no_weight_decay(self) -> set[str]:
        """The temporal [CLS] and positions; the backbone answers for its own parameters."""
        return {"temporal.cls_token", "temporal.pos_embed"}

    def get_classifier(self) -> nn.Module:
        return self.head

"""An image classifier that reads a caption: ViT tokens cross-attend to text embeddings (lesson 10).

    z  = ViT encoder(image)          (B, N, D)   the image tokens: the queries
    c  = W_text t                    (B, M, D)   the text, projected to D: keys and values
    z' = CrossAttentionBlock(z, c)   (B, N, D)
    y  = head(LN(z')[:, 0])          (B, num_classes)

The cross-attention block is the "encoder-decoder attention" of Vaswani et al. (2017, sec. 3.2.3),
here with the image in the decoder's place: every image token asks the text what it says.

A remark the lesson builds on: with one text vector per image (M = 1, a single CLIP sentence
embedding) the softmax runs over one key, so every weight is 1 and every image token receives
the same vector, ``proj(v(LN(c)))``: the block adds a caption-dependent shift to all tokens,
which the MLP then mixes in. Attention has a choice to make only when M > 1 (several captions,
or one embedding per word).
"""
import torch
from torch import nn

from ..layers import CrossAttentionBlock
from .init import init_linear_and_norm


class CaptionConditionedClassifier(nn.Module):
    """A ViT whose tokens cross-attend to text embeddings before the [CLS] token is classified.

    The lesson compares kinds of text, all chosen by the caller: the image's own caption, the
    caption of another (random) image, one constant caption for every image, and no text.
    ``text=None`` skips the cross-attention block, so that baseline is the network minus the block.
    The same text for every image keeps the block (and its MLP, an extra layer) but gives it no
    information: the control that separates "the text helps" from "more parameters help".

    Args:
        backbone: the image encoder: a :class:`minivision.models.VisionTransformer`
            (pretrained or not), or a video model read as still clips
            (:class:`~minivision.models.StillClipEncoder`, lesson 10 on lesson 09's model). Its
            ``forward_features`` gives the tokens (B, N, D), its ``pool`` the pooled token, its
            ``config`` the width, heads, MLP ratio and norm that the new block copies. Its own
            head is not used (build a ViT with ``num_classes=0`` to drop it).
        text_dim: E, the width of the text embeddings (512 for CLIP ViT-B-32).
        num_classes: outputs of the head.
        num_heads: heads of the cross-attention; defaults to the backbone's.
        mlp_ratio: of the cross-attention block's MLP; defaults to the backbone's.
        dropout: inside the cross-attention block.
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        text_dim: int,
        num_classes: int,
        num_heads: int | None = None,
        mlp_ratio: float | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        config = backbone.config
        D = config.embed_dim
        self.backbone = backbone
        self.text_dim = text_dim
        self.text_proj = nn.Linear(text_dim, D)  # the text into the image tokens' width
        self.cross = CrossAttentionBlock(
            embed_dim=D,
            num_heads=num_heads or config.num_heads,
            mlp_ratio=mlp_ratio or config.mlp_ratio,
            qkv_bias=config.qkv_bias,
            dropout=dropout,
            norm_eps=config.norm_eps,
            fused=config.fused_attn,
        )
        # the block's residual stream is not normalised
        self.norm = nn.LayerNorm(D, eps=config.norm_eps)
        self.head = nn.Linear(D, num_classes)
        for module in (self.text_proj, self.cross, self.norm, self.head):
            init_linear_and_norm(module)  # only the new parts: the backbone may be pretrained

    def forward_features(self, images, text=None, *, text_padding_mask=None) -> torch.Tensor:
        """Args:
            images: (B, C, H, W).
            text: text embeddings (B, M, E), or (B, E) for one embedding per image (M = 1);
                None skips the cross-attention.
            text_padding_mask: optional bool (B, M), True where a text position is padding.

        Returns:
            tokens after the final LayerNorm, (B, N, D). For the cross-attention weights call
            ``self.cross(x, self.text_proj(text), return_attn=True)`` on the backbone's tokens.
        """
        text = self._check_text(images, text, text_padding_mask)
        x = self.backbone.forward_features(images)  # (B, N, D)
        if text is not None:
            context = self.text_proj(text)  # (B, M, D)
            x = self.cross(x, context, key_padding_mask=text_padding_mask)  # (B, N, D)
        return self.norm(x)  # (B, N, D)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) tokens -> (B, num_classes) logits, from the backbone's pooling ([CLS])."""
        x = self.backbone.pool(x)  # (B, D)
        return self.head(x)  # (B, num_classes)

    def forward(self, images, text=None, *, text_padding_mask=None) -> torch.Tensor:
        """Args:
            images: (B, C, H, W).
            text: (B, M, E) or (B, E) text embeddings, or None for the image-only path.
            text_padding_mask: optional bool (B, M), True = padding.

        Returns:
            logits, (B, num_classes).
        """
        x = self.forward_features(images, text, text_padding_mask=text_padding_mask)  # (B, N, D)
        return self.forward_head(x)

    def _check_text(self, images, text, text_padding_mask):
        """Checks the text against the images; returns it as (B, M, E)."""
        if text is None:
            if text_padding_mask is not None:
                raise ValueError("text_padding_mask was given without text; pass both or neither.")
            return None
        if images.dim() != 4:
            raise ValueError(f"images must be (B, C, H, W), got {tuple(images.shape)}.")
        if text.dim() == 2:
            text = text[:, None]  # (B, 1, E): one embedding per image
        if text.dim() != 3 or text.shape[-1] != self.text_dim:
            raise ValueError(
                f"text must be (B, M, {self.text_dim}) or (B, {self.text_dim}), got "
                f"{tuple(text.shape)}. Build the model with text_dim={text.shape[-1]} if the "
                "embedding width is right."
            )
        if text.shape[0] != images.shape[0]:
            raise ValueError(
                f"images and text have different batch sizes: {images.shape[0]} vs "
                f"{text.shape[0]}; pass one text per image."
            )
        return text


__all__ = ["CaptionConditionedClassifier"]

"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers").

One layer's attention map says where a token looks in the *previous layer's* tokens, which are
already mixtures of tokens. To trace the flow back to the input patches, rollout multiplies the
maps of all layers. The residual connection (x + MSA(x)) is modelled by adding the identity:

    A_hat_l = 0.5 * A_l + 0.5 * I,   rows renormalised to sum to 1
    R       = A_hat_L  A_hat_{L-1} ... A_hat_1

so R[i, j] is how much input token j flows into output token i. The heads of a layer are fused
first (mean, as in the paper; max or min as in Gildenblat's popular variant), optionally keeping
only each token's strongest connections (``discard_ratio``).
"""

from collections.abc import Sequence

import torch
from torch import nn

from ..models.protocol import require
from .attention_maps import attention_maps, cls_attention_map
from .grid import normalize_maps, upsample

HEAD_FUSIONS = ("mean", "max", "min")


def attention_rollout(
    attentions: torch.Tensor | Sequence[torch.Tensor],
    *,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    residual: bool = True,
) -> torch.Tensor:
    """Roll attention out through the layers.

    Args:
        attentions: (L, B, h, N, N) from :func:`attention_maps`, or a sequence of L tensors
            (B, h, N, N) (``EncoderOutput.attentions``), first block first.
        head_fusion: how the h heads of a layer become one map: "mean", "max" or "min".
        discard_ratio: in [0, 1). For each token (row), the smallest ``discard_ratio`` fraction of
            its fused weights is set to zero before the residual is added (noise removal); 0 keeps
            all.
        residual: add the identity for the skip connection (0.5 A + 0.5 I). Without it the plain
            product A_L ... A_1 is returned.

    Returns:
        (B, N, N), every row sums to 1 (rows are renormalised after each step, which also makes
        "max"/"min" fusion and discarding valid distributions). Computed in float64, returned in
        the input's dtype.
    """
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}.")
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}.")
    if isinstance(attentions, torch.Tensor) and attentions.dim() == 4:
        raise ValueError(
            f"got one tensor of shape {tuple(attentions.shape)}; rollout needs all layers: "
            f"(L, B, h, N, N) or a list of (B, h, N, N). For one layer pass [attn]."
        )
    if len(attentions) == 0:
        raise ValueError("attention_rollout got no layers.")
    dtype = attentions[0].dtype
    B, _, N, _ = attentions[0].shape
    eye = torch.eye(N, dtype=torch.float64, device=attentions[0].device)  # (N, N)
    rollout = eye.expand(B, N, N)  # (B, N, N): before any layer every token is itself
    for attn in attentions:
        attn = attn.double()  # (B, h, N, N)
        if head_fusion == "mean":
            fused = attn.mean(dim=1)  # (B, N, N)
        elif head_fusion == "max":
            fused = attn.amax(dim=1)  # (B, N, N)
        else:
            fused = attn.amin(dim=1)  # (B, N, N)
        if discard_ratio > 0:
            fused = _discard_weakest(fused, discard_ratio)
        if residual:
            fused = 0.5 * fused + 0.5 * eye  # the skip connection carries the token itself
        fused = fused / fused.sum(dim=-1, keepdim=True)  # rows are distributions again
        rollout = fused @ rollout  # (B, N, N): this layer mixes what the earlier ones produced
    return rollout.to(dtype)


def _discard_weakest(fused: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the ``ratio`` smallest weights of each row of (B, N, N) (keeping at least one)."""
    N = fused.shape[-1]
    k = min(int(N * ratio), N - 1)
    if k == 0:
        return fused
    weakest = fused.topk(k, dim=-1, largest=False).indices  # (B, N, k)
    return fused.scatter(-1, weakest, 0.0)


@torch.no_grad()
def rollout_map(
    model: nn.Module,
    images: torch.Tensor,
    *,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    residual: bool = True,
    normalize: bool = True,
) -> torch.Tensor:
    """The rollout's [CLS] row as a heatmap the size of the images: where the class token's
    information comes from.

    Args:
        model: a :class:`minivision.VisionTransformer` with a [CLS] token (pool="cls"); any
            model that says its ``num_prefix_tokens`` and ``patch_grid`` and returns attention
            maps (see :func:`attention_maps`).
        images: (B, C, H, W).
        head_fusion, discard_ratio, residual: as for :func:`attention_rollout`.
        normalize: min-max scale each map to [0, 1] (for display); False keeps the rollout
            weights (bilinearly upsampled).

    Returns:
        (B, H, W).
    """
    require(model, "num_prefix_tokens", "patch_grid", purpose="rollout_map",
            hint="Use a minivision VisionTransformer (minivision.models.load_timm / load_hf "
                 "import others).")
    num_prefix_tokens = model.num_prefix_tokens
    if num_prefix_tokens < 1:
        raise ValueError(
            "rollout_map needs a [CLS] token, but this model is mean-pooled (pool='mean'). Take "
            "attention_rollout(attention_maps(model, x)).mean(dim=1) for the average token instead."
        )
    attentions = attention_maps(model, images)  # (L, B, h, N, N)
    rollout = attention_rollout(
        attentions, head_fusion=head_fusion, discard_ratio=discard_ratio, residual=residual
    )
    grid_size = model.patch_grid(tuple(images.shape[-2:]))  # (g_h, g_w)
    maps = cls_attention_map(rollout, grid_size, num_prefix_tokens)  # (B, g_h, g_w)
    maps = upsample(maps, tuple(images.shape[-2:]))  # (B, H, W)
    return normalize_maps(maps) if normalize else maps

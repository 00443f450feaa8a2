"""Between tokens and pictures: a ViT's N patch tokens are a (g x g) grid laid out row by row
(ViT, Dosovitskiy et al. 2021, section 3.1), so any per-token value can be drawn as a small image
and upsampled to the input size to lie over it (attention maps, rollout, token similarity,
Grad-CAM).
"""

import math

import torch
import torch.nn.functional as F


def grid_shape(grid_size: int | tuple[int, int]) -> tuple[int, int]:
    """``8`` -> ``(8, 8)``; ``(4, 6)`` stays as it is."""
    if isinstance(grid_size, int):
        return grid_size, grid_size
    gh, gw = grid_size
    return int(gh), int(gw)


def infer_grid_size(num_patches: int) -> int:
    """The side g of a square grid of ``num_patches`` = g * g tokens (ValueError if not square)."""
    g = math.isqrt(num_patches)
    if g * g != num_patches:
        raise ValueError(
            f"{num_patches} patch tokens do not form a square grid: pass grid_size=(rows, cols) "
            f"explicitly, or check num_prefix_tokens (the [CLS] token is not a patch)."
        )
    return g


def to_grid(values: torch.Tensor, grid_size: int | tuple[int, int]) -> torch.Tensor:
    """Per-patch values in row-major token order -> a grid.

    Args:
        values: (..., g_h * g_w), the patch tokens only (prefix tokens already dropped).
        grid_size: g, or (g_h, g_w).

    Returns:
        (..., g_h, g_w)
    """
    gh, gw = grid_shape(grid_size)
    if values.shape[-1] != gh * gw:
        raise ValueError(
            f"expected {gh}*{gw}={gh * gw} patch values in the last dimension, got "
            f"{values.shape[-1]} (shape {tuple(values.shape)}). Drop the prefix ([CLS]) tokens "
            f"first or check grid_size."
        )
    return values.reshape(*values.shape[:-1], gh, gw)  # (..., g_h, g_w)


def tokens_to_feature_map(
    tokens: torch.Tensor, grid_size: int | tuple[int, int] | None = None, num_prefix_tokens: int = 1
) -> torch.Tensor:
    """ViT tokens -> a CNN-style feature map (drop the prefix tokens, fold the patches into a grid).

    Args:
        tokens: (B, N, D) with N = num_prefix_tokens + g_h * g_w.
        grid_size: g or (g_h, g_w); None infers a square grid.
        num_prefix_tokens: tokens before the patches ([CLS]: 1).

    Returns:
        (B, D, g_h, g_w)
    """
    if tokens.dim() != 3:
        raise ValueError(f"expected tokens of shape (B, N, D), got {tuple(tokens.shape)}.")
    B, N, D = tokens.shape
    patches = tokens[:, num_prefix_tokens:]  # (B, N_patches, D)
    if grid_size is None:
        grid_size = infer_grid_size(N - num_prefix_tokens)
    patches = patches.transpose(1, 2)  # (B, D, N_patches)
    return to_grid(patches, grid_size)  # (B, D, g_h, g_w)


def upsample(
    maps: torch.Tensor, size: int | tuple[int, int], mode: str = "bilinear"
) -> torch.Tensor:
    """Resize the last two dimensions with ``F.interpolate`` (for overlays on the input image).

    Args:
        maps: (..., h, w), any number of leading dimensions.
        size: the target H (square) or (H, W).
        mode: "bilinear" (smooth) or "nearest" (shows the patch blocks).

    Returns:
        (..., H, W), same dtype.
    """
    H, W = grid_shape(size)
    lead, (h, w) = maps.shape[:-2], maps.shape[-2:]
    x = maps.reshape(-1, 1, h, w).float()  # (M, 1, h, w): interpolate wants a channel axis
    align = False if mode in ("bilinear", "bicubic") else None
    x = F.interpolate(x, size=(H, W), mode=mode, align_corners=align)  # (M, 1, H, W)
    return x.reshape(*lead, H, W).to(maps.dtype)  # (..., H, W)


def normalize_maps(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Min-max scale each map (the last two dimensions) to [0, 1] for display.

    A constant map has no contrast to show and becomes all zeros (not NaN).

    Args:
        maps: (..., H, W).

    Returns:
        (..., H, W) in [0, 1].
    """
    flat = maps.flatten(-2)  # (..., H*W)
    low = flat.min(dim=-1, keepdim=True).values
    high = flat.max(dim=-1, keepdim=True).values
    flat = (flat - low) / (high - low).clamp_min(eps)
    return flat.reshape(maps.shape)

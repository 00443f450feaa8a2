"""Attention maps of a Vision Transformer (lesson 06).

Every block's multi-head self-attention computes, for every token i, a probability distribution
over all tokens j: A = softmax(Q K^T / sqrt(d)) (Vaswani et al. 2017, eq. 1), one (N, N) matrix per
head. The row of the [CLS] token says where the class summary looks in the image; reshaped to the
patch grid it becomes a picture (Dosovitskiy et al. 2021, fig. 6 and appendix D.8; Caron et al.
2021, DINO, fig. 1).

The maps come from the model's own ``return_attn=True`` path, not from hooks: asking for them
switches every block to the explicit softmax(QK^T)V computation, which builds A and can return it.
"""

import matplotlib.pyplot as plt
import torch
from torch import nn

from ..plot import overlay_heatmap
from .hooks import eval_mode, to_model_device
from .grid import to_grid

overlay = overlay_heatmap  # the blend lives with the other drawing helpers in minivision.plot


@torch.no_grad()
def attention_maps(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Every block's attention weights for a batch of images.

    Why not simply read them from the fast path: ``F.scaled_dot_product_attention`` (fused
    attention, FlashAttention on GPUs; Dao et al. 2022) computes softmax(QK^T)V in tiles and
    never materialises the N x N matrix A in memory; that is where its speed and memory saving
    come from, so it has nothing to return. ``return_attn=True`` makes each block take the
    explicit path, which computes the same output and keeps A. No hooks are installed, so the
    model is left untouched; it runs in eval mode (no dropout) and its mode is restored.

    Args:
        model: a :class:`minivision.VisionTransformer` (anything whose ``forward_features``
            accepts ``return_attn=True`` and returns an object with ``.attentions``).
        images: (B, C, H, W), normalised as the model expects.

    Returns:
        (L, B, h, N, N): L blocks, h heads, N tokens ([CLS] first if the model has it, then the
        patches row by row). Each row sums to 1 (weights before attention dropout).
    """
    if images.dim() != 4:
        raise ValueError(
            f"expected images (B, C, H, W), got {tuple(images.shape)}; use x.unsqueeze(0) for one."
        )
    with eval_mode(model):
        output = model.forward_features(to_model_device(model, images), return_attn=True)
    attentions = getattr(output, "attentions", None)
    if attentions is None:
        raise ValueError(
            f"{type(model).__name__}.forward_features(x, return_attn=True) returned no "
            f".attentions; attention_maps needs a minivision VisionTransformer (import other "
            f"ViTs with VisionTransformer.from_timm / from_hf)."
        )
    return torch.stack(attentions)  # (L, B, h, N, N)


def cls_attention_map(
    attn: torch.Tensor, grid_size: int | tuple[int, int], num_prefix_tokens: int = 1
) -> torch.Tensor:
    """The [CLS] token's attention to the patches, as a grid.

    Args:
        attn: (..., N, N) attention weights (e.g. (L, B, h, N, N) from :func:`attention_maps`, or a
            rollout (B, N, N)), N = num_prefix_tokens + g_h * g_w.
        grid_size: g, or (g_h, g_w): ``model.patch_grid((H, W))``.
        num_prefix_tokens: tokens before the patches (``model.num_prefix_tokens``); the [CLS]
            token must be the first of them.

    Returns:
        (..., g_h, g_w): row 0 of A, without the prefix columns. The values are the raw weights
        (they sum to 1 minus the weight [CLS] gives to the prefix tokens).
    """
    if num_prefix_tokens < 1:
        raise ValueError(
            "cls_attention_map needs a [CLS] token (num_prefix_tokens >= 1); a mean-pooled model "
            "(pool='mean') has none: average the rows instead, attn.mean(dim=-2)."
        )
    row = attn[..., 0, num_prefix_tokens:]  # (..., N_patches): how much [CLS] attends to each patch
    return to_grid(row, grid_size)  # (..., g_h, g_w)


def plot_attention_grid(
    maps: torch.Tensor,
    *,
    image: torch.Tensor | None = None,
    alpha: float = 0.6,
    layer_labels: list[str] | None = None,
    cell_size: float = 1.2,
):
    """A grid of attention maps: one row per layer, one column per head.

    Args:
        maps: (L, h, g, g) for one image, e.g. ``cls_attention_map(attention_maps(model, x),
            grid)[:, 0]``; or (L, h, H, W) already upsampled if ``image`` is given.
        image: optional (C, H, W) image in [0, 1]; the maps are then drawn over it
            (they must be (L, h, H, W): upsample them first with ``analysis.upsample``).
        alpha: heatmap weight in the overlay.
        layer_labels: row labels (default "layer 1" ...).

    Returns:
        the Figure.
    """
    if maps.dim() != 4:
        raise ValueError(
            f"expected maps (L, h, g, g) for one image, got {tuple(maps.shape)}; "
            f"index the batch first."
        )
    L, h = maps.shape[:2]
    maps = maps.detach().float().cpu()
    fig, axes = plt.subplots(
        L, h, figsize=(cell_size * h + 0.6, cell_size * L + 0.3), squeeze=False
    )
    for layer in range(L):
        for head in range(h):
            ax = axes[layer, head]
            if image is None:
                ax.imshow(maps[layer, head].numpy(), cmap="viridis", interpolation="nearest")
            else:
                ax.imshow(overlay_heatmap(image, maps[layer, head], alpha=alpha))
            ax.set_xticks([])
            ax.set_yticks([])
            if layer == 0:
                ax.set_title(f"head {head + 1}", fontsize=8)
            if head == 0:
                ax.set_ylabel(
                    layer_labels[layer] if layer_labels else f"layer {layer + 1}", fontsize=8
                )
    fig.tight_layout()
    return fig

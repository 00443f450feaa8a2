"""Token similarity (lesson 08): how alike the [CLS] token and each patch token are, layer by
layer, as cosine similarity cos(u, v) = u . v / (||u|| ||v||).

Drawn on the patch grid, the [CLS]-to-patch similarity shows which parts of the image the class
summary resembles (Raghu et al. 2021, "Do Vision Transformers See Like CNNs?", study token
representations this way); the full (N, N) matrix shows whether tokens stay distinct or collapse
to the same vector with depth (over-smoothing; Gong et al. 2021).
"""

import torch
import torch.nn.functional as F

from .grid import to_grid, upsample


def token_cosine_similarity(
    tokens: torch.Tensor, *, reference: str | int = "cls", num_prefix_tokens: int = 1
) -> torch.Tensor:
    """Cosine similarity between one reference token and every patch token.

    Args:
        tokens: (B, N, D), e.g. ``EncoderOutput.hidden_states[l]``.
        reference: "cls" (token 0, needs num_prefix_tokens >= 1), "mean" (the mean of the patch
            tokens), or an int index into the N tokens.
        num_prefix_tokens: tokens before the patches; they are left out of the result.

    Returns:
        (B, N - num_prefix_tokens) in [-1, 1], patches in row-major order.
    """
    if tokens.dim() != 3:
        raise ValueError(f"expected tokens (B, N, D), got {tuple(tokens.shape)}.")
    patches = tokens[:, num_prefix_tokens:]  # (B, N_patches, D)
    if reference == "cls":
        if num_prefix_tokens < 1:
            raise ValueError(
                "reference='cls' needs a [CLS] token; with num_prefix_tokens=0 use 'mean' "
                "or a token index."
            )
        ref = tokens[:, 0]  # (B, D)
    elif reference == "mean":
        ref = patches.mean(dim=1)  # (B, D)
    elif isinstance(reference, int):
        ref = tokens[:, reference]  # (B, D)
    else:
        raise ValueError(f"reference must be 'cls', 'mean' or a token index, got {reference!r}.")
    return F.cosine_similarity(patches, ref.unsqueeze(1), dim=-1)  # (B, N_patches)


def token_similarity_matrix(tokens: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every token with every other token.

    Args:
        tokens: (B, N, D).

    Returns:
        (B, N, N), symmetric, ones on the diagonal (for non-zero tokens).
    """
    if tokens.dim() != 3:
        raise ValueError(f"expected tokens (B, N, D), got {tuple(tokens.shape)}.")
    unit = F.normalize(tokens, dim=-1)  # (B, N, D): each token scaled to length 1
    return unit @ unit.transpose(1, 2)  # (B, N, N)


def similarity_map(
    tokens: torch.Tensor,
    grid_size: int | tuple[int, int],
    *,
    image_size: int | tuple[int, int] | None = None,
    reference: str | int = "cls",
    num_prefix_tokens: int = 1,
    mode: str = "bilinear",
) -> torch.Tensor:
    """:func:`token_cosine_similarity` on the patch grid, optionally upsampled to the image size.

    Args:
        tokens: (B, N, D).
        grid_size: g or (g_h, g_w): ``model.embeddings.patch_embed.grid_size``.
        image_size: H or (H, W) to upsample to with ``F.interpolate``; None keeps the grid.
        reference, num_prefix_tokens: as for :func:`token_cosine_similarity`.
        mode: interpolation mode ("nearest" keeps the patch blocks visible).

    Returns:
        (B, g_h, g_w), or (B, H, W) with ``image_size``; cosine values, not rescaled.
    """
    sims = token_cosine_similarity(
        tokens, reference=reference, num_prefix_tokens=num_prefix_tokens
    )  # (B, N_p)
    maps = to_grid(sims, grid_size)  # (B, g_h, g_w)
    if image_size is not None:
        maps = upsample(maps, image_size, mode=mode)  # (B, H, W)
    return maps

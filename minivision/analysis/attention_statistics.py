"""Two numbers per attention head: how far it looks, and how many tokens it reads (lesson 06).

**Mean attention distance** (Dosovitskiy et al. 2021, fig. 7 and appendix D.7; Raghu et al.
2021, sec. 4): for a query patch i, the distance in pixels to every key patch j, weighted by the
attention A_ij, then averaged over the query patches and the images,

    distance_i = sum_j A'_ij * ||c_i - c_j||,      A'_ij = A_ij / sum_{k patch} A_ik,

where c_i is the centre of patch i (patch_size pixels apart on the grid) and A' keeps only the
patch-to-patch part of A, renormalised over the patches: the weight a patch gives to [CLS] has
no position. It is the receptive field of a head in the language of CNNs: 0 for a head that
reads only its own patch, the mean distance between two patches for a uniform head.

**Effective number of tokens** a row of A reads: the exponential of its entropy,

    tokens_i = exp(-sum_j A_ij log A_ij),

(the perplexity, Hill's diversity of order 1; every row of A, [CLS] included, over all N keys):
1 for a row on one token, N for a uniform row, m for a row spread evenly over m tokens. The
inverse Simpson index 1 / sum_j A_ij^2 (order 2) is another common choice; it weighs the
largest weights more and is not used here. Distance says *how far* a head looks, this number
*how many* tokens it reads: a head can look at two far-away patches, or spread its weight over
the whole image, and have the same distance.
"""
import torch

from .grid import grid_shape


def mean_attention_distance(attn: torch.Tensor, grid_size: int | tuple[int, int],
                            patch_size: int, num_prefix_tokens: int = 1) -> torch.Tensor:
    """The mean attention distance of every head, in pixels.

    Args:
        attn: (L, B, h, N, N) attention weights from :func:`~minivision.analysis.attention_maps`,
            N = num_prefix_tokens + g_h * g_w, the patches row by row after the prefix tokens.
        grid_size: g, or (g_h, g_w): ``model.patch_grid((H, W))``.
        patch_size: pixels between the centres of two neighbouring patches.
        num_prefix_tokens: tokens before the patches ([CLS], registers), left out.

    Returns:
        (L, h) float32: the distance averaged over the query patches and the images. A query
        patch that gives no weight at all to the patches (all on [CLS]) has no distance and is
        left out of the average.
    """
    _check_maps(attn)
    g_h, g_w = grid_shape(grid_size)
    P = g_h * g_w
    if attn.shape[-1] != num_prefix_tokens + P:
        raise ValueError(f"attn has N = {attn.shape[-1]} tokens, but a {g_h} x {g_w} grid with "
                         f"{num_prefix_tokens} prefix tokens has {num_prefix_tokens + P}.")
    rows, cols = torch.meshgrid(torch.arange(g_h), torch.arange(g_w), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1) * patch_size  # (P, 2)
    distance = torch.cdist(centres.double(), centres.double())  # (P, P), pixels
    weights = attn[..., num_prefix_tokens:, num_prefix_tokens:].double()  # (L, B, h, P, P)
    mass = weights.sum(dim=-1)  # (L, B, h, P): what each query patch gives to the patches
    weighted = (weights * distance.to(weights.device)).sum(dim=-1)  # (L, B, h, P)
    per_query = torch.where(mass > 0, weighted / mass, torch.nan)  # (L, B, h, P)
    per_query = per_query.transpose(1, 2).flatten(2)  # (L, h, B * P)
    return per_query.nanmean(dim=-1).float()  # (L, h)


def effective_tokens(attn: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of every attention row, averaged per head.

    Args:
        attn: (L, B, h, N, N) attention weights; every row sums to 1.

    Returns:
        (L, h) float32: the effective number of tokens read, between 1 and N, averaged over
        the N query tokens and the B images.
    """
    _check_maps(attn)
    p = attn.double()
    entropy = -(p * p.clamp_min(1e-300).log()).sum(dim=-1)  # (L, B, h, N); 0 log 0 = 0
    return entropy.exp().mean(dim=(1, 3)).float()  # (L, h)


def _check_maps(attn: torch.Tensor) -> None:
    if attn.dim() != 5 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"expected attention maps (L, B, h, N, N), got {tuple(attn.shape)}; "
                         "for one layer use attn[None], for one image attn[:, None].")

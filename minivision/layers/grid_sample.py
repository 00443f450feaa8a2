"""The affine grid and the bilinear grid sample, written by hand from the Spatial Transformer paper
(Jaderberg et al. 2015): what ``F.affine_grid`` and ``F.grid_sample`` compute.

Two steps, each one equation of the paper:

1. The grid generator (eq. 1). Every output pixel i has a target coordinate (x_i^t, y_i^t) in
   normalised units, [-1, 1] from the left/top edge to the right/bottom edge. The affine matrix
   theta (2 x 3) says where in the input to read it from:

       (x_i^s, y_i^s)^T = theta (x_i^t, y_i^t, 1)^T

2. The sampler (eq. 5). The output value is a weighted sum of the input pixels U_nm, with the
   bilinear kernel as weights:

       V_i = sum_n sum_m U_nm max(0, 1 - |x_i^s - m|) max(0, 1 - |y_i^s - n|)

   (x^s, y^s here in pixel units). Only the four pixels around (x^s, y^s) have a non-zero
   weight, so we visit just those four. Pixels outside the image count as zero ("zeros" padding).

``affine_grid`` and ``bilinear_sample`` give the same numbers as ``F.affine_grid`` and
``F.grid_sample(mode="bilinear", padding_mode="zeros")`` (tests/test_stn.py checks it), so the
library uses the fast torch versions and a lesson can open these to see what they do.

``align_corners`` chooses what -1 and +1 mean: with True they are the *centres* of the corner
pixels; with False (PyTorch's default) they are the *outer edges* of the corner pixels.
"""
import torch


def _normalised_coords(n: int, align_corners: bool, like: torch.Tensor) -> torch.Tensor:
    """The normalised coordinate of each of n pixel centres along one axis, shape (n,)."""
    index = torch.arange(n, dtype=like.dtype, device=like.device)  # 0, 1, ..., n-1
    if n == 1:
        return index * 0.0  # a single pixel sits at the centre, 0 (as in F.affine_grid)
    if align_corners:
        return index * (2.0 / (n - 1)) - 1.0  # pixel 0 -> -1 and pixel n-1 -> +1
    return (2.0 * index + 1.0) / n - 1.0  # pixel centres inside the edges at -1 and +1


def _to_pixels(coord: torch.Tensor, n: int, align_corners: bool) -> torch.Tensor:
    """The inverse of ``_normalised_coords``: normalised coordinates -> pixel units."""
    if align_corners:
        return (coord + 1.0) / 2.0 * (n - 1)
    return ((coord + 1.0) * n - 1.0) / 2.0


def affine_grid(theta: torch.Tensor, size, align_corners: bool = False) -> torch.Tensor:
    """The grid generator, eq. 1: where each output pixel reads from.

    Args:
        theta: affine matrices, (B, 2, 3).
        size: the output size (B, C, H, W), as for ``F.affine_grid``.
        align_corners: see the module docstring.

    Returns:
        grid, (B, H, W, 2): the source (x^s, y^s) of every output pixel, normalised to [-1, 1]
        (x first, as ``F.grid_sample`` expects).
    """
    B, _, H, W = size
    xs = _normalised_coords(W, align_corners, theta)  # (W,)
    ys = _normalised_coords(H, align_corners, theta)  # (H,)
    y_t, x_t = torch.meshgrid(ys, xs, indexing="ij")  # each (H, W)
    ones = torch.ones_like(x_t)
    target = torch.stack([x_t, y_t, ones], dim=-1)  # (H, W, 3): homogeneous (x^t, y^t, 1)
    target = target.reshape(1, H * W, 3)  # (1, H*W, 3)
    source = target @ theta.transpose(1, 2)  # (B, H*W, 2): theta (x^t, y^t, 1)^T for every pixel
    return source.reshape(B, H, W, 2)  # (B, H, W, 2)


def bilinear_sample(images: torch.Tensor, grid: torch.Tensor, align_corners: bool = False):
    """The bilinear sampler, eq. 5, with zeros outside the image.

    Args:
        images: input U, (B, C, H, W).
        grid: sampling positions, (B, H_out, W_out, 2), normalised (x, y), as from
            :func:`affine_grid`.
        align_corners: see the module docstring; use the same value as for the grid.

    Returns:
        output V, (B, C, H_out, W_out). It is differentiable in both ``images`` and ``grid``
        (the kernel's weights depend on the positions), which is what lets an STN learn theta.
    """
    B, C, H, W = images.shape
    _, H_out, W_out, _ = grid.shape
    x = _to_pixels(grid[..., 0], W, align_corners)  # (B, H_out, W_out): x^s in pixel units
    y = _to_pixels(grid[..., 1], H, align_corners)  # (B, H_out, W_out)
    x0 = x.floor()  # the pixel column left of x^s
    y0 = y.floor()  # the pixel row above y^s
    flat = images.reshape(B, C, H * W)  # (B, C, H*W): pixel (n, m) sits at n * W + m
    out = images.new_zeros(B, C, H_out * W_out)  # (B, C, H_out*W_out)
    for n in (y0, y0 + 1):  # the two neighbouring rows ...
        for m in (x0, x0 + 1):  # ... and the two neighbouring columns
            weight = (1 - (x - m).abs()) * (1 - (y - n).abs())  # eq. 5's kernel, (B, H_out, W_out)
            inside = (m >= 0) & (m <= W - 1) & (n >= 0) & (n <= H - 1)  # zeros padding
            weight = weight * inside
            # clamp so that every index is legal; the outside ones have weight 0 anyway
            index = n.clamp(0, H - 1) * W + m.clamp(0, W - 1)  # (B, H_out, W_out)
            index = index.long().reshape(B, 1, H_out * W_out)  # (B, 1, H_out*W_out)
            index = index.expand(B, C, H_out * W_out)  # (B, C, H_out*W_out): same for each channel
            values = flat.gather(2, index)  # (B, C, H_out*W_out): U_nm for every output pixel
            out = out + values * weight.reshape(B, 1, H_out * W_out)
    return out.reshape(B, C, H_out, W_out)  # (B, C, H_out, W_out)

"""Patch embeddings, the [CLS] token and position embeddings of the Vision Transformer.

Implements eq. 1 of Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words":

    z_0 = [x_class; x_p^1 E; x_p^2 E; ...; x_p^N E] + E_pos

An image (B, C, H, W) is cut into N = HW / P^2 patches of P x P pixels. Each flattened patch is
multiplied by the same matrix E: that is exactly a convolution whose kernel and stride are both P,
which is how it is computed here (lesson 03 proves the two equal).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbeddings(nn.Module):
    """Cut an image into non-overlapping patches and project each one to ``embed_dim``.

    Args:
        image_size: height and width of the (square) input image, in pixels.
        patch_size: height and width of one patch; must divide ``image_size``.
        in_channels: channels of the input image (3 for RGB).
        embed_dim: width D of the token vectors.
    """

    def __init__(self, *, image_size: int, patch_size: int, in_channels: int = 3, embed_dim: int):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(
                f"image_size={image_size} is not divisible by patch_size={patch_size}: "
                f"the image cannot be cut into whole patches. Choose a patch size that divides "
                f"{image_size} (for example {_divisors_hint(image_size)}) or resize the images."
            )
        self.image_size = image_size
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.grid_size = image_size // patch_size  # patches per side
        self.num_patches = self.grid_size**2
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor, *, check_size: bool = True) -> torch.Tensor:
        """Args:
            x: images, (B, C, H, W).
            check_size: if True, H and W must equal ``image_size``.

        Returns:
            patch tokens, (B, N, D) with N = (H / P) * (W / P), row by row.
        """
        _check_image(x, self.in_channels, self.image_size, self.patch_size, check_size)
        x = self.proj(x)  # (B, D, H/P, W/P)
        x = x.flatten(2)  # (B, D, N)
        x = x.transpose(1, 2)  # (B, N, D)
        return x


class Embeddings(nn.Module):
    """Patch embeddings, an optional learnable [CLS] token, learnable position embeddings, dropout.

    Args:
        image_size, patch_size, in_channels, embed_dim: as for :class:`PatchEmbeddings`.
        dropout: dropout on the sum of token and position embeddings (ViT appendix B.1).
        class_token: prepend a learnable [CLS] token (ViT); False for mean-pooled models.
        dynamic_size: accept other image sizes (divisible by the patch) by resampling the
            position embeddings on the fly with :func:`resample_pos_embed`.
    """

    def __init__(
        self,
        *,
        image_size: int,
        patch_size: int,
        in_channels: int = 3,
        embed_dim: int,
        dropout: float = 0.0,
        class_token: bool = True,
        dynamic_size: bool = False,
    ):
        super().__init__()
        self.patch_embed = PatchEmbeddings(
            image_size=image_size, patch_size=patch_size, in_channels=in_channels, embed_dim=embed_dim
        )
        self.num_prefix_tokens = 1 if class_token else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        num_tokens = self.patch_embed.num_patches + self.num_prefix_tokens
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        self.dropout = nn.Dropout(dropout)
        self.dynamic_size = dynamic_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Args:
            images: (B, C, H, W).

        Returns:
            tokens, (B, N, D): [CLS] first (if any), then the patches row by row.
        """
        x = self.patch_embed(images, check_size=not self.dynamic_size)  # (B, N_patches, D)
        B, _, H, W = images.shape
        pos_embed = self.pos_embed
        if self.dynamic_size and H != self.patch_embed.image_size:
            if H != W:
                raise ValueError(f"dynamic_size supports square images only, got {H}x{W}.")
            new_grid = H // self.patch_embed.patch_size
            pos_embed = resample_pos_embed(pos_embed, new_grid, self.num_prefix_tokens)
        if self.cls_token is not None:
            cls_token = self.cls_token.expand(B, -1, -1)  # (B, 1, D)
            x = torch.cat([cls_token, x], dim=1)  # (B, N, D)
        x = x + pos_embed
        x = self.dropout(x)
        return x


def resample_pos_embed(pos_embed: torch.Tensor, new_grid: int, num_prefix_tokens: int = 1) -> torch.Tensor:
    """Resize learned position embeddings to a new patch grid (ViT section 3.2, "fine-tuning and
    higher resolution": 2D interpolation according to each patch's place in the image).

    The [CLS] (prefix) embeddings are kept as they are; the grid of patch embeddings is treated as
    a D-channel image and resized bicubically (with antialiasing when shrinking, as timm does).

    Args:
        pos_embed: (1, P + g*g, D) with P prefix tokens and a g x g grid.
        new_grid: the new number of patches per side.
        num_prefix_tokens: P, the tokens before the grid (1 for [CLS], 0 without).

    Returns:
        (1, P + new_grid*new_grid, D)
    """
    prefix, grid_tokens = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    old_grid = math.isqrt(grid_tokens.shape[1])
    if old_grid * old_grid != grid_tokens.shape[1]:
        raise ValueError(
            f"pos_embed has {grid_tokens.shape[1]} grid tokens after {num_prefix_tokens} prefix "
            f"token(s), which is not a square number: check num_prefix_tokens."
        )
    if old_grid == new_grid:
        return pos_embed
    D = pos_embed.shape[-1]
    grid_tokens = grid_tokens.reshape(1, old_grid, old_grid, D).permute(0, 3, 1, 2)  # (1, D, g, g)
    grid_tokens = F.interpolate(
        grid_tokens.float(), size=(new_grid, new_grid), mode="bicubic", antialias=True, align_corners=False
    ).to(pos_embed.dtype)  # (1, D, g', g')
    grid_tokens = grid_tokens.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, D)  # (1, g'*g', D)
    return torch.cat([prefix, grid_tokens], dim=1)


def _check_image(x: torch.Tensor, in_channels: int, image_size: int, patch_size: int, check_size: bool):
    """Raise a ValueError that names the problem and the fix for a badly shaped image batch."""
    if x.dim() != 4:
        raise ValueError(
            f"expected a batch of images of shape (B, C, H, W), got a tensor of shape {tuple(x.shape)}. "
            f"For a single image use x.unsqueeze(0)."
        )
    _, C, H, W = x.shape
    if C != in_channels:
        raise ValueError(
            f"expected {in_channels} input channels, got {C} (input shape {tuple(x.shape)}). "
            f"Convert the images (e.g. x.expand(-1, 3, -1, -1) for grayscale) or build the model "
            f"with in_channels={C}."
        )
    if check_size and (H != image_size or W != image_size):
        raise ValueError(
            f"expected {image_size}x{image_size} images, got {H}x{W}. Resize the images to "
            f"{image_size}x{image_size}, or build the model with image_size={H} (the weight "
            f"importers interpolate the position embeddings: load_timm(..., image_size={H})), "
            f"or set dynamic_size=True."
        )
    if H % patch_size or W % patch_size:
        raise ValueError(
            f"image size {H}x{W} is not divisible by patch_size={patch_size}: resize or crop the "
            f"images to a multiple of {patch_size}."
        )


def _divisors_hint(n: int) -> str:
    divisors = [d for d in range(2, n) if n % d == 0]
    return ", ".join(str(d) for d in divisors[:6]) or "1"

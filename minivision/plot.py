"""Matplotlib helpers shared by the lessons: turn tensors back into displayable images, lay
images out in a titled grid, and lay a heatmap (attention, rollout, Grad-CAM) over an image.

Functions that draw return the ``matplotlib.figure.Figure`` (a lesson can save it, test it or
show it); the others return arrays. Nothing here calls ``plt.show()``.

The figure convention (for the site, where a lesson's stored figures are shown): a figure is at
most ``FIGURE_WIDTH`` inches wide at ``FIGURE_DPI``, which is the width of the site's figure
column on a 1280 px laptop (866 px), so it is shown at its natural size there; no text is
smaller than ``MIN_FONT_SIZE`` points, which stays >= 9 px on the screen even where the site
shrinks a figure to 70% of its width (the least it allows; a phone scrolls the rest). A lesson's
setup cell calls :func:`use_site_style`; :func:`check_readable` says whether a figure keeps to
the convention.
"""

import math
import warnings
from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

# The statistics most torchvision and timm ImageNet models expect (and that lessons normalise with).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

FIGURE_DPI = 100
FIGURE_WIDTH = 8.5  # inches: 850 px at FIGURE_DPI, inside the site's 866 px figure column
MIN_SHOWN_SCALE = 0.7  # docs/assets/minivision.css never shows a figure below 70% of its width
MIN_TEXT_PX = 9  # the smallest text a reader should have to read, on the screen
MIN_FONT_SIZE = 10  # points: 13.9 px at FIGURE_DPI, 9.7 px at 70%
MIN_CELL_SIZE = 0.6  # inches: the smallest image in a grid before it wraps into more rows
DARK_MAX = 0.05  # a float colour image whose values all stay below this shows as black
DARK_WARNING = "shows almost black"  # in the warning's text (a test looks for it in lessons)


def use_site_style() -> None:
    """Set matplotlib's defaults to the site's figure convention (call it in a setup cell).

    Figures default to FIGURE_WIDTH x 0.45 FIGURE_WIDTH inches at FIGURE_DPI, every text to at
    least MIN_FONT_SIZE points (titles a little larger)."""
    plt.rcParams.update({
        "figure.figsize": (FIGURE_WIDTH, 0.45 * FIGURE_WIDTH),
        "figure.dpi": FIGURE_DPI,
        "savefig.dpi": FIGURE_DPI,
        "font.size": MIN_FONT_SIZE,
        "axes.titlesize": MIN_FONT_SIZE + 1,
        "axes.labelsize": MIN_FONT_SIZE,
        "xtick.labelsize": MIN_FONT_SIZE,
        "ytick.labelsize": MIN_FONT_SIZE,
        "legend.fontsize": MIN_FONT_SIZE,
        "legend.title_fontsize": MIN_FONT_SIZE,
        "figure.titlesize": MIN_FONT_SIZE + 2,
    })


def check_readable(fig) -> None:
    """Raise ValueError when ``fig`` breaks the figure convention: wider than FIGURE_WIDTH, or
    with text that would be shown below MIN_TEXT_PX at MIN_SHOWN_SCALE of its size.

    The width is the figure's own (``bbox_inches="tight"``, as Jupyter shows it, can only make
    it narrower)."""
    width_in = fig.get_figwidth()
    if width_in > FIGURE_WIDTH + 1e-6:
        raise ValueError(f"the figure is {width_in:.2f} in wide, more than FIGURE_WIDTH = "
                         f"{FIGURE_WIDTH} in: lay it out in rows (plot_image_grid does)")
    fig.draw_without_rendering()  # tick labels get their text only when drawn
    smallest = None
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_visible() and text.get_text().strip():
            size = text.get_fontsize()
            smallest = size if smallest is None else min(smallest, size)
    if smallest is not None:
        shown_px = smallest / 72 * fig.dpi * MIN_SHOWN_SCALE
        if shown_px < MIN_TEXT_PX - 1e-6:
            raise ValueError(f"text of {smallest:g} pt at {fig.dpi:g} dpi is {shown_px:.1f} px "
                             f"where the site shrinks the figure to {MIN_SHOWN_SCALE:.0%}, "
                             f"below {MIN_TEXT_PX} px: use MIN_FONT_SIZE = {MIN_FONT_SIZE} pt")


def _grid_layout(n: int, ncols: int, cell_size: float) -> tuple[int, float]:
    """(columns, inches per image) for n images that fit FIGURE_WIDTH: images shrink down to
    MIN_CELL_SIZE, then a wide strip wraps into more rows."""
    ncols = min(ncols, n)
    if ncols * cell_size <= FIGURE_WIDTH:
        return ncols, cell_size
    if FIGURE_WIDTH / ncols >= MIN_CELL_SIZE:
        return ncols, FIGURE_WIDTH / ncols
    ncols = max(1, math.floor(FIGURE_WIDTH / MIN_CELL_SIZE))
    return ncols, FIGURE_WIDTH / ncols


def unnormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo ``transforms.Normalize(mean, std)``: x * std + mean, clipped to [0, 1].

    Args:
        images: (C, H, W) or (B, C, H, W), normalised.
        mean, std: the per-channel values used to normalise (C each).

    Returns:
        the same shape, in [0, 1].
    """
    C = images.shape[-3]
    if len(mean) != C or len(std) != C:
        raise ValueError(
            f"images have {C} channels but mean/std have {len(mean)}/{len(std)} values."
        )
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).reshape(C, 1, 1)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).reshape(C, 1, 1)
    return (images * std_t + mean_t).clamp(0.0, 1.0)


def to_numpy_image(image) -> np.ndarray:
    """A tensor image (C, H, W) or (H, W), or an array (H, W, C), -> a numpy array imshow accepts:
    (H, W, 3) for colour, (H, W) for one channel. Values are not rescaled.

    Warns (UserWarning) when a float colour image would show almost black: imshow reads float
    RGB values on [0, 1] without rescaling, so values that all stay below DARK_MAX (but are not
    all zero) are almost surely an image already in [0, 1] divided by 255 once more."""
    was_integer = not (image.is_floating_point() if isinstance(image, torch.Tensor)
                       else np.issubdtype(np.asarray(image).dtype, np.floating))
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float()
        if image.dim() == 3:
            image = image.permute(1, 2, 0)  # (H, W, C)
        image = image.numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]  # (H, W)
    if not was_integer and image.ndim == 3:  # one channel is rescaled by its colormap: no check
        _warn_if_dark(image)
    return image


def _warn_if_dark(image: np.ndarray) -> None:
    """The check of :func:`to_numpy_image`, on a float (H, W, C) array."""
    largest = float(np.nanmax(image)) if image.size else 0.0
    if 0.0 < largest < DARK_MAX:
        warnings.warn(
            f"this float image {DARK_WARNING}: its largest value is {largest:.4f}, and imshow "
            f"shows floats on a 0-1 scale. Was it divided by 255 twice? minivision's datasets "
            f"already return floats in [0, 1] (divide only uint8 images, as a transform gets "
            f"them); if it is meant to be dark, scale it for display.",
            UserWarning,
            stacklevel=3,
        )


def overlay_heatmap(image, heatmap, *, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a heatmap, coloured with ``cmap``, over an image: (1 - alpha) * image + alpha * colour.

    Args:
        image: (C, H, W) tensor or (H, W, C) array with values in [0, 1] (un-normalise first).
        heatmap: (H, W), same size as the image; min-max scaled to [0, 1] here.
        alpha: weight of the heatmap (0: only the image, 1: only the heatmap).
        cmap: a matplotlib colormap name.

    Returns:
        (H, W, 3) float array in [0, 1].
    """
    img = to_numpy_image(image)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)  # (H, W, 3)
    heat = (
        heatmap.detach().cpu().float().numpy()
        if isinstance(heatmap, torch.Tensor)
        else np.asarray(heatmap)
    )
    if heat.shape != img.shape[:2]:
        raise ValueError(
            f"heatmap of shape {heat.shape} does not match the image's {img.shape[:2]}: "
            f"upsample it first (minivision.analysis.upsample)."
        )
    heat = (heat - heat.min()) / max(heat.max() - heat.min(), 1e-12)
    colour = matplotlib.colormaps[cmap](heat)[..., :3]  # (H, W, 3)
    return np.clip((1.0 - alpha) * img + alpha * colour, 0.0, 1.0)


def plot_image_grid(
    images,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str | None = None,
    suptitle: str | None = None,
    cell_size: float = 1.6,
):
    """Images in a grid, each with an optional title.

    Args:
        images: (B, C, H, W) or (B, H, W) tensor, or a list of images (tensors (C, H, W) / (H, W)
            or arrays (H, W, C)), values ready to show (un-normalise first).
        titles: one per image (e.g. "cat (0.93)").
        ncols: images per row, at most (a grid wider than FIGURE_WIDTH shrinks its images,
            down to MIN_CELL_SIZE, then wraps into more rows).
        cmap: colormap for one-channel images (default "gray").
        suptitle: a title over the whole grid.
        cell_size: inches per image, at most.

    Returns:
        the Figure.
    """
    images = list(images)
    if not images:
        raise ValueError("plot_image_grid got no images.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images.")
    ncols, cell_size = _grid_layout(len(images), ncols, cell_size)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell_size * ncols, cell_size * nrows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        img = to_numpy_image(images[i])
        ax.imshow(img, cmap=(cmap or "gray") if img.ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=MIN_FONT_SIZE)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_overlays(
    images,
    heatmaps,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    titles: Sequence[str] | None = None,
    show_image: bool = True,
    cell_size: float = 2.0,
):
    """For each image: the image, then the heatmap over it (one row per image).

    Args:
        images: (B, C, H, W) tensor or a list of images in [0, 1].
        heatmaps: (B, H, W), e.g. from ``rollout_map`` or ``GradCAM``.
        alpha, cmap: as for :func:`overlay_heatmap`.
        titles: one per image, put over its overlay.
        show_image: also draw the plain image on the left.

    Returns:
        the Figure.
    """
    images, heatmaps = list(images), list(heatmaps)
    if len(images) != len(heatmaps):
        raise ValueError(f"got {len(images)} images but {len(heatmaps)} heatmaps.")
    ncols = 2 if show_image else 1
    cell_size = min(cell_size, FIGURE_WIDTH / ncols)
    fig, axes = plt.subplots(
        len(images), ncols, figsize=(cell_size * ncols, cell_size * len(images)), squeeze=False
    )
    for i, (image, heatmap) in enumerate(zip(images, heatmaps, strict=True)):
        if show_image:
            img = to_numpy_image(image)
            axes[i, 0].imshow(img, cmap="gray" if img.ndim == 2 else None)
        axes[i, -1].imshow(overlay_heatmap(image, heatmap, alpha=alpha, cmap=cmap))
        if titles is not None:
            axes[i, -1].set_title(titles[i], fontsize=MIN_FONT_SIZE)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DARK_MAX",
    "FIGURE_DPI",
    "FIGURE_WIDTH",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MIN_FONT_SIZE",
    "check_readable",
    "use_site_style",
    "overlay_heatmap",
    "plot_image_grid",
    "plot_overlays",
    "to_numpy_image",
    "unnormalize",
]

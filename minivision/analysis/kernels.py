"""Looking at what a CNN's convolution kernels learned (lesson 01).

Two views. The size of the weights per layer: a network that overfits often grows large weights
(the reason weight decay, i.e. an L2 penalty on them, helps; Krogh & Hertz 1991). And the kernels
themselves: the first layer's kernels act on RGB pixels and can be drawn as tiny colour images,
where trained networks show oriented edges and colour blobs (Krizhevsky et al. 2012, fig. 3;
Zeiler & Fergus 2014); deeper kernels act on feature channels and are drawn one channel at a time.

Works on any ``nn.Module`` that contains ``nn.Conv2d`` layers (ours, torchvision's, timm's).
"""

import matplotlib.pyplot as plt
import torch
from torch import nn

NORMS = ("l2", "l1", "mean_abs")


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every ``nn.Conv2d`` in ``model``, in registration order (usually the order of the forward).

    Returns:
        a list of ``(qualified name, module)``, e.g. ``("layer1.0.conv1", Conv2d(...))``.
    """
    return [
        (name, module) for name, module in model.named_modules() if isinstance(module, nn.Conv2d)
    ]


def kernel_magnitudes(model: nn.Module, *, norm: str = "l2") -> dict[str, float]:
    """One magnitude per conv layer, to plot against depth.

    A *kernel* here is one output filter W[o] of shape (C_in / groups, k_h, k_w): the weights
    that make one output channel.

    Args:
        model: any module with ``nn.Conv2d`` layers.
        norm: "l2": the mean over filters of ||W[o]||_2; "l1": the mean of ||W[o]||_1;
            "mean_abs": the mean |w| over every weight of the layer. The two norms grow with the
            filter's size (C_in * k_h * k_w), so deeper, wider layers look larger even at
            initialisation; "mean_abs" does not depend on the size and compares layers fairly.

    Returns:
        ``{layer name: magnitude}`` in layer order.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
    layers = conv_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d layers to measure.")
    magnitudes = {}
    for name, conv in layers:
        weight = conv.weight.detach().float()  # (C_out, C_in / groups, k_h, k_w)
        filters = weight.flatten(1)  # (C_out, C_in / groups * k_h * k_w): one row per kernel
        if norm == "l2":
            value = filters.norm(p=2, dim=1).mean()
        elif norm == "l1":
            value = filters.abs().sum(dim=1).mean()
        else:
            value = filters.abs().mean()
        magnitudes[name] = value.item()
    return magnitudes


def plot_kernel_magnitudes(
    magnitudes: dict[str, float] | nn.Module, *, norm: str = "l2", title: str | None = None
):
    """A bar chart of :func:`kernel_magnitudes` against depth.

    Args:
        magnitudes: the dict from :func:`kernel_magnitudes`, or a model (measured with ``norm``).
        norm: used only when a model is given, and for the axis label.
        title: the figure title.

    Returns:
        the Figure.
    """
    if isinstance(magnitudes, nn.Module):
        magnitudes = kernel_magnitudes(magnitudes, norm=norm)
    names, values = list(magnitudes), list(magnitudes.values())
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(names) + 1.5), 3.2))
    ax.bar(range(len(values)), values, color="tab:blue")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_ylabel(
        {"l2": "mean kernel L2 norm", "l1": "mean kernel L1 norm", "mean_abs": "mean |w|"}[norm]
    )
    ax.set_xlabel("conv layer (input to output)")
    ax.set_title(title or "kernel magnitude per layer")
    fig.tight_layout()
    return fig


def _scale_each(kernels: torch.Tensor) -> torch.Tensor:
    """Min-max scale every kernel (dim 0) to [0, 1] on its own, so each shows its full pattern."""
    flat = kernels.flatten(1)  # (K, rest)
    low = flat.min(dim=1, keepdim=True).values
    high = flat.max(dim=1, keepdim=True).values
    flat = (flat - low) / (high - low).clamp_min(1e-12)
    return flat.reshape(kernels.shape)


def plot_first_layer_kernels(
    model: nn.Module, *, ncols: int = 8, max_kernels: int = 64, cell_size: float = 0.9
):
    """The first conv layer's kernels as small images, each min-max scaled on its own.

    With 3 input channels a kernel (3, k, k) is drawn as an RGB image (what colour and orientation
    excites that filter); with 1 channel as a grey image.

    Args:
        model: any module with ``nn.Conv2d`` layers; the first one is drawn.
        ncols: kernels per row.
        max_kernels: draw at most this many (the first ones).

    Returns:
        the Figure.
    """
    layers = conv_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d layers to draw.")
    name, conv = layers[0]
    weight = conv.weight.detach().float().cpu()[:max_kernels]  # (K, C_in, k_h, k_w)
    if weight.shape[1] not in (1, 3):
        raise ValueError(
            f"the first conv layer {name!r} has {weight.shape[1]} input channels; only 1 (grey) or "
            f"3 (RGB) can be drawn as images. Use plot_kernels_channelwise(conv) instead."
        )
    weight = _scale_each(weight)  # (K, C_in, k_h, k_w) in [0, 1]
    K = weight.shape[0]
    ncols = min(ncols, K)
    nrows = -(-K // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell_size * ncols, cell_size * nrows + 0.4), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < K:
            kernel = weight[i].permute(1, 2, 0).squeeze(-1)  # (k_h, k_w, 3) or (k_h, k_w)
            ax.imshow(
                kernel.numpy(), cmap="gray" if kernel.dim() == 2 else None, interpolation="nearest"
            )
    fig.suptitle(f"{name}: {K} kernels of {tuple(conv.weight.shape[1:])}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_kernels_channelwise(
    conv: nn.Conv2d, *, max_kernels: int = 8, max_channels: int = 8, cell_size: float = 0.8
):
    """A deeper conv layer's kernels, one input channel at a time: row = kernel, column = channel.

    Colours are on one symmetric scale (blue negative, red positive, white zero) shared by all
    the cells, so magnitudes can be compared across the grid.

    Args:
        conv: an ``nn.Conv2d`` (e.g. ``conv_layers(model)[3][1]``).
        max_kernels: output filters to draw (rows).
        max_channels: input channels per filter to draw (columns).

    Returns:
        the Figure.
    """
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(
            f"expected an nn.Conv2d, got {type(conv).__name__}; pick one with conv_layers(model)."
        )
    weight = conv.weight.detach().float().cpu()[:max_kernels, :max_channels]  # (K, C, k_h, k_w)
    K, C = weight.shape[:2]
    limit = weight.abs().max().item() or 1.0
    fig, axes = plt.subplots(
        K, C, figsize=(cell_size * C + 0.8, cell_size * K + 0.4), squeeze=False
    )
    for k in range(K):
        for c in range(C):
            ax = axes[k, c]
            image = ax.imshow(
                weight[k, c].numpy(), cmap="bwr", vmin=-limit, vmax=limit, interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_title(f"in {c}", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"out {k}", fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.6)
    fig.suptitle(
        f"kernels {tuple(conv.weight.shape)}: first {K} filters x first {C} channels", fontsize=9
    )
    return fig

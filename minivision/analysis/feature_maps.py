"""Feature maps: what each layer of a network outputs for one image (lesson 01; Zeiler & Fergus
2014 visualise them to see edges turn into parts turn into objects with depth).

They are read with forward hooks: a function PyTorch calls with a module's output on every
forward pass. The hooks live only for the one call here and are removed in a ``finally`` block,
so the model is left as it was even if the forward pass fails.
"""

from contextlib import ExitStack

import matplotlib.pyplot as plt
import torch
from torch import nn

from .hooks import capture_output, eval_mode, to_model_device
from .kernels import conv_layers


@torch.no_grad()
def feature_maps(
    model: nn.Module, image: torch.Tensor, layers: list[str] | None = None
) -> dict[str, torch.Tensor]:
    """Run ``image`` through ``model`` and return the output of the chosen layers.

    The model runs in eval mode (BatchNorm uses its running statistics and is not updated,
    dropout is off) and each submodule's mode is restored afterwards.

    Args:
        model: any ``nn.Module``.
        image: (C, H, W) or (B, C, H, W), normalised as the model expects.
        layers: module names from ``model.named_modules()`` (e.g. ``["conv1", "layer1.0.conv2"]``);
            None takes every ``nn.Conv2d``.

    Returns:
        ``{name: output}`` in the order of ``layers``, each (B, C_l, H_l, W_l) for a conv layer
        (B = 1 for a single image), detached, on the model's device. Any module works: for a ViT,
        ``layers=["encoder.blocks.0.norm1", "encoder.blocks.0.attn"]`` gives tokens (B, N, D)
        (the input and output of the first attention, e.g. for CKA). A layer that runs twice
        keeps its first output.
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)  # (1, C, H, W)
    image = to_model_device(model, image)
    modules = dict(model.named_modules())
    if layers is None:
        layers = [name for name, _ in conv_layers(model)]
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise ValueError(
            f"no module named {unknown} in {type(model).__name__}; choose from "
            f"[name for name, _ in model.named_modules()], "
            f"e.g. {[n for n, _ in conv_layers(model)][:4]}."
        )
    with ExitStack() as stack:  # closes every hook (and restores the mode) on the way out
        stack.enter_context(eval_mode(model))
        captured = {name: stack.enter_context(capture_output(modules[name])) for name in layers}
        model(image)
    missing = [name for name, outputs in captured.items() if not outputs]
    if missing:
        raise ValueError(
            f"layers {missing} were not called in the forward pass, so they have no output."
        )
    return {name: outputs[0] for name, outputs in captured.items()}


def plot_feature_maps(
    maps: dict[str, torch.Tensor], *, max_channels: int = 8, index: int = 0, cell_size: float = 1.1
):
    """One row per layer, one column per channel (the first ``max_channels``), each map scaled
    on its own (viridis: dark low, yellow high).

    Args:
        maps: from :func:`feature_maps`: ``{name: (B, C, H, W)}``.
        max_channels: channels to draw per layer.
        index: which image of the batch.

    Returns:
        the Figure.
    """
    if not maps:
        raise ValueError("plot_feature_maps got no maps.")
    for name, fmap in maps.items():
        if fmap.dim() != 4:
            raise ValueError(
                f"{name!r} has shape {tuple(fmap.shape)}; expected conv maps (B, C, H, W)."
            )
    ncols = min(max_channels, max(fmap.shape[1] for fmap in maps.values()))
    fig, axes = plt.subplots(
        len(maps), ncols, figsize=(cell_size * ncols + 1.2, cell_size * len(maps)), squeeze=False
    )
    for row, (name, fmap) in enumerate(maps.items()):
        fmap = fmap[index].detach().float().cpu()  # (C, H, W)
        for c in range(ncols):
            ax = axes[row, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < fmap.shape[0]:
                ax.imshow(fmap[c].numpy(), cmap="viridis")
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(f"{name}\n{tuple(fmap.shape)}", fontsize=7)
    fig.tight_layout()
    return fig

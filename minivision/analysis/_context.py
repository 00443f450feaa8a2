"""What the analysis tools share: run a model in eval mode for a moment, capture a module's output
with a forward hook that is always removed afterwards, and send the images to the model's device.

Why both matter: an analysis call must leave the model exactly as it found it. A forward in
training mode would update BatchNorm's running statistics and apply dropout; a hook left behind
would keep every later forward pass storing tensors (a silent memory leak).
"""

from contextlib import contextmanager

import torch
from torch import nn


def to_model_device(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``images`` on the device of the model's first parameter (unchanged for a parameter-free
    model), so that a model trained on a GPU can be analysed with images from a CPU loader."""
    parameter = next(model.parameters(), None)
    return images if parameter is None else images.to(parameter.device)


@contextmanager
def eval_mode(model: nn.Module):
    """Put every submodule in eval mode inside the ``with`` block, then restore each one's own
    ``training`` flag (not just the root's: a frozen, half-eval model stays half-eval)."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.training = training


class Captured(list):
    """The outputs a hook recorded, plus each one's autograd version counter at capture time
    (``versions``): if it grows later, an in-place op (e.g. ``ReLU(inplace=True)``) overwrote
    the tensor after the layer produced it."""

    def __init__(self):
        super().__init__()
        self.versions: list[int] = []


@contextmanager
def capture_output(module: nn.Module, *, detach: bool = True):
    """Record the output of ``module`` on every forward pass inside the ``with`` block.

    Yields a :class:`Captured` list that fills with one tensor per call; the hook is removed on
    leaving the block, even when an exception is raised inside it.

    Args:
        module: the layer to watch.
        detach: store detached copies (for plotting); False keeps the autograd graph (Grad-CAM).
    """
    outputs = Captured()

    def hook(_module, _inputs, output):
        if isinstance(output, tuple):  # e.g. Attention(return_attn=True) returns (x, attn)
            output = output[0]
        outputs.versions.append(output._version)
        outputs.append(output.detach().clone() if detach else output)

    handle = module.register_forward_hook(hook)
    try:
        yield outputs
    finally:
        handle.remove()

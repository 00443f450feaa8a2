"""Look inside a model without changing it: record what its layers receive and return, in eval mode.

PyTorch lets you watch a layer with a *hook*, a function it calls on every forward pass:
``module.register_forward_hook(fn)`` calls ``fn(module, inputs, output)`` after the layer runs,
``register_forward_pre_hook(fn)`` calls ``fn(module, inputs)`` before. Each returns a handle, and
the hook stays until ``handle.remove()``. The context managers here pair the two, so a hook never
outlives its ``with`` block, even when the block raises::

    with record_outputs({"block 0": model.encoder.blocks[0]}) as seen, torch.no_grad():
        model(images)
    seen["block 0"][0].shape  # (B, N, D): one tensor per forward pass

Why it matters: an analysis call must leave the model exactly as it found it. A hook left behind
keeps every later forward pass storing tensors (a silent memory leak), and a forward in training
mode would update BatchNorm's running statistics and apply dropout (:func:`eval_mode`).
"""
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

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
    """The tensors a hook recorded, one per forward pass, plus each one's autograd version
    counter at capture time (``versions``): if it grows later, an in-place op (e.g.
    ``ReLU(inplace=True)``) overwrote the tensor after the layer produced it."""

    def __init__(self):
        super().__init__()
        self.versions: list[int] = []

    def add(self, tensor: torch.Tensor, detach: bool) -> None:
        self.versions.append(tensor._version)
        self.append(tensor.detach().clone() if detach else tensor)


@contextmanager
def capture_output(module: nn.Module, *, detach: bool = True) -> Iterator[Captured]:
    """Record the output of ``module`` on every forward pass inside the ``with`` block.

    Yields a :class:`Captured` list that fills with one tensor per call; the hook is removed on
    leaving the block, even when an exception is raised inside it.

    Args:
        module: the layer to watch. A layer that returns a tuple (``Attention(...,
            return_attn=True)`` returns ``(x, attn)``) has its first element recorded.
        detach: store detached copies (for plotting); False keeps the autograd graph (Grad-CAM).
    """
    outputs = Captured()

    def hook(_module, _inputs, output):
        outputs.add(output[0] if isinstance(output, tuple) else output, detach)

    handle = module.register_forward_hook(hook)
    try:
        yield outputs
    finally:
        handle.remove()


@contextmanager
def capture_input(module: nn.Module, *, detach: bool = True) -> Iterator[Captured]:
    """Record the first positional input of ``module`` on every forward pass inside the block.

    What a layer *receives* can differ from what the layer before it returned: a
    :class:`~minivision.layers.FactorisedSelfAttentionBlock` reshapes ``(B, T, N, D)`` into
    ``(B*T, N, D)`` for spatial attention and ``(B*N, T, D)`` for temporal attention between
    its submodules. Same contract as :func:`capture_output` (a forward *pre*-hook, removed on
    leaving the block).
    """
    inputs = Captured()

    def hook(_module, args):
        inputs.add(args[0], detach)

    handle = module.register_forward_pre_hook(hook)
    try:
        yield inputs
    finally:
        handle.remove()


@contextmanager
def record_outputs(modules: Mapping[str, nn.Module], *,
                   detach: bool = True) -> Iterator[dict[str, Captured]]:
    """Record the outputs of several named modules at once: :func:`capture_output` for each.

    Args:
        modules: name -> module, e.g. ``{name: model.get_submodule(name) for name in names}``
            or ``{n: m for n, m in model.named_modules() if isinstance(m, Attention)}``.
        detach: as for :func:`capture_output`.

    Yields:
        name -> :class:`Captured` (one tensor per forward pass). Every hook is removed on leaving
        the block, even when it raises.
    """
    with ExitStack() as stack:
        yield {name: stack.enter_context(capture_output(module, detach=detach))
               for name, module in modules.items()}


@contextmanager
def record_inputs(modules: Mapping[str, nn.Module], *,
                  detach: bool = True) -> Iterator[dict[str, Captured]]:
    """Record the first input of several named modules at once: :func:`capture_input` for each.

    Example, what each attention of a factorised block sees (lesson 09)::

        with record_inputs({"spatial": block.attn, "temporal": block.temporal_attn}) as seen:
            block(x)                          # x: (B, T, N, D)
        seen["spatial"][0].shape              # (B*T, N, D)
        seen["temporal"][0].shape             # (B*N, T, D)
    """
    with ExitStack() as stack:
        yield {name: stack.enter_context(capture_input(module, detach=detach))
               for name, module in modules.items()}


__all__ = ["Captured", "capture_input", "capture_output", "eval_mode", "record_inputs",
           "record_outputs", "to_model_device"]

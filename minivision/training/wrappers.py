"""The wrappers training puts around a model, and how to take them off.

``fit`` may compile the model (``torch.compile`` returns an ``OptimizedModule`` that holds the
model as ``._orig_mod``) and, under torchrun, wrap it in ``DistributedDataParallel`` (which holds
it as ``.module``). Checkpoints and analysis want the plain model underneath.
"""
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module under DistributedDataParallel (``.module``) and torch.compile
    (``._orig_mod``): its ``state_dict`` has the keys the model class expects.

    Saving the wrapper would write ``module.`` or ``_orig_mod.`` prefixes that every loader
    must then strip (the nanoGPT habit this avoids).
    """
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch._dynamo.eval_frame.OptimizedModule
            model = model._orig_mod
        else:
            return model


__all__ = ["unwrap_model"]

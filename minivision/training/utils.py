"""The small helpers every run needs: one seed for everything, the device, the parameter count."""
import os
import random

import numpy as np
import torch
from torch import nn


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU): same seed, same run on a CPU.

    GPU kernels may still be non-deterministic (atomics in some backward passes); see
    ``torch.use_deterministic_algorithms`` for the price of making them exact.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # NumPy accepts only 32-bit seeds
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses such as DataLoader workers


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the one asked for, else CUDA, then Apple's MPS, then the CPU.

    Args:
        device: None (choose), "cuda", "cuda:1", "mps" or "cpu".

    Returns:
        a :class:`torch.device`; a ValueError if the one asked for is not available.
    """
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was asked for, but torch sees no CUDA GPU here; "
                             "use device=None to pick what is available, or 'cpu'.")
        if device.type == "mps" and not _mps_available():
            raise ValueError("device='mps' was asked for, but MPS is not available; use 'cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_amp(device: str | torch.device) -> str | None:
    """The mixed precision that fits a device: the rule every lesson and ``amp="auto"`` follow.

    - CUDA with native bfloat16 (compute capability >= 8: A100, L4, H100, H200): ``"bf16"``.
      bfloat16 keeps float32's exponent range, so no loss scaling is needed.
    - Older CUDA GPUs (T4 is 7.5, V100 7.0): ``"fp16"``, which ``fit`` pairs with a gradient
      scaler (float16's small range would otherwise flush small gradients to zero). These GPUs
      have float16 tensor cores but no bfloat16 ones.
    - CPU and MPS: ``None`` (no autocast). On most CPUs bfloat16 matrix products are far slower
      than float32 (about 500x on the 2-core AMD EPYC this project is tested on).

    Args:
        device: a device or its name ("cuda", "cuda:1", "cpu", "mps").

    Returns:
        "bf16", "fp16" or None.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16"


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameters (shared tensors counted once); only those with
    ``requires_grad`` if ``trainable_only``."""
    unique = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in unique if p.requires_grad or not trainable_only)


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


def cpu_has_native_bf16() -> bool:
    """True if this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); read from
    /proc/cpuinfo, so False where that file does not exist."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _progress_bar_class():
    """tqdm's notebook bar where ipywidgets can draw it, else the plain text bar.

    ``tqdm.auto`` picks the notebook bar inside Jupyter and warns ("IProgress not found") when
    ipywidgets is missing, then falls back to the text bar anyway; this makes the same choice
    without the warning. Colab has ipywidgets, so it gets the notebook bar.
    """
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


tqdm = _progress_bar_class()

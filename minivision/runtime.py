"""Where and how a run executes: the seed, the device, the precision, the progress bar.

These live together because every run, every lesson and every benchmark asks the same four
questions before its first step, and the answers depend on the same facts about the machine:

- **seed**: :func:`seed_everything` seeds Python, NumPy and torch at once, so that the same seed
  gives the same numbers twice on a CPU;
- **device**: :func:`pick_device` takes CUDA, then Apple's MPS, then the CPU;
- **precision**: :func:`pick_amp` chooses bfloat16, float16 or none for that device, and
  :func:`cpu_has_native_bf16` says whether a CPU could run bfloat16 at a useful speed;
- **progress**: :data:`tqdm` is the progress bar that fits where the code runs (a notebook
  widget or plain text).

The training loop, the lessons (:mod:`minivision.lesson`) and the command line all import them
from here; none of them knows anything about models.
"""
import os
import platform
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU): same seed, same run on a CPU.

    GPU kernels may still be non-deterministic (atomics in some backward passes); see
    ``torch.use_deterministic_algorithms`` for the price of making them exact.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # NumPy accepts only 32-bit seeds
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses such as DataLoader workers


def mps_available() -> bool:
    """Whether Apple's Metal GPU backend (MPS) can be used (False on builds without it)."""
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


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
        if device.type == "mps" and not mps_available():
            raise ValueError("device='mps' was asked for, but MPS is not available; use 'cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_amp(device: str | torch.device) -> str | None:
    """The mixed precision that fits a device: the rule every lesson and ``amp="auto"`` follow.

    - CUDA with native bfloat16 (compute capability >= 8: A100, L4, H100, H200): ``"bf16"``.
      bfloat16 keeps float32's exponent range, so no loss scaling is needed.
    - Older CUDA GPUs (T4 is 7.5, V100 7.0): ``"fp16"``, which ``fit`` pairs with a gradient
      scaler (float16's small range would otherwise flush small gradients to zero). These GPUs
      have float16 tensor cores but no bfloat16 ones.
    - CPU and MPS: ``None`` (no autocast). Most CPUs emulate bfloat16, many times slower than
      float32; even where the CPU has AVX512-BF16 (the 2-core AMD EPYC this project is tested
      on), a micro ViT's training step ran 6x slower under bf16 autocast (lesson 00 measures it).

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


def _cpuinfo() -> str:
    """The text of /proc/cpuinfo, or "" where that file does not exist (macOS, Windows)."""
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_has_native_bf16() -> bool:
    """True if this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); read from
    /proc/cpuinfo, so False where that file does not exist."""
    flags = _cpuinfo()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_name() -> str:
    """The CPU's model name (``"AMD EPYC 7B13"``), from /proc/cpuinfo or else from ``platform``."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


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
"""The progress bar class to use everywhere (``for batch in tqdm(loader): ...``)."""

__all__ = ["cpu_has_native_bf16", "cpu_name", "mps_available", "pick_amp", "pick_device",
           "seed_everything", "tqdm"]

"""Learning-rate schedule: linear warmup, then cosine decay (Loshchilov & Hutter 2017, SGDR eq. 5,
without restarts), as in ViT and DeiT training.

    warmup:  lr(s) = lr * (s + 1) / W                                    s < W
    cosine:  lr(s) = lr * (r + (1 - r) * (1 + cos(pi * p)) / 2),  p = (s - W) / (T - W)

s counts optimizer steps from 0, W is the number of warmup steps, T the total, r = min_lr / lr.
The schedule is a pure function of the step (nanoGPT's ``get_lr``), wrapped in a LambdaLR so the
scheduler's state is saved and restored with the checkpoint.
"""
import functools
import math

import torch


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int,
                  min_ratio: float = 0.0) -> float:
    """The factor that multiplies the base learning rate at optimizer step ``step`` (from 0).

    Args:
        step: optimizer steps taken so far.
        warmup_steps: W; the factor climbs linearly to 1 over the first W steps.
        total_steps: T; the cosine reaches ``min_ratio`` at step T.
        min_ratio: the final factor, min_lr / lr.

    Returns:
        a float in [min_ratio, 1].
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps  # starts above 0: the first step already learns
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return min_ratio + (1.0 - min_ratio) * cosine


def build_scheduler(optimizer, *, warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
    """A per-step :class:`torch.optim.lr_scheduler.LambdaLR` over :func:`warmup_cosine`.
    Call ``scheduler.step()`` after every ``optimizer.step()``."""
    factor = functools.partial(
        warmup_cosine, warmup_steps=warmup_steps, total_steps=total_steps, min_ratio=min_ratio
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

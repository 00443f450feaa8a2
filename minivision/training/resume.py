"""What a resumed run must share with its checkpoint: the model, the batch size, the data, the seed.

Resuming with another ``--batch-size`` or ``--seed`` used to be accepted without a word and gave a
run that matches neither setting. Every checkpoint now holds the run's *identity* (a small dict of
plain values), and :func:`check_resume` compares it with the run that loads it: a ValueError lists
each difference, unless ``resume_anyway=True`` says the change is meant. A different model (other
parameter names or shapes) is always an error: its weights cannot be loaded.
"""
from pathlib import Path

from torch import nn

from .checkpoint import CheckpointError


def run_identity(model: nn.Module, loader, *, seed: int, world_size: int,
                 run_info: dict | None = None) -> dict:
    """The facts a resumed run must repeat (plain types, so it fits in a weights_only file)."""
    dataset = loader.dataset
    identity = {"model": type(model).__name__, "batch_size": loader.batch_size,
                "dataset": f"{type(dataset).__name__} of {len(dataset)} samples", "seed": seed,
                "world_size": world_size}
    identity.update(run_info or {})
    return identity


def check_resume(checkpoint: dict, model: nn.Module, identity: dict, path: Path, *,
                 resume_anyway: bool) -> None:
    """Raise if the checkpoint at ``path`` was made by a different model or run.

    Raises:
        CheckpointError: the model's parameters differ (names or shapes).
        ValueError: batch size, data, seed, ... differ and ``resume_anyway`` is False.
    """
    saved = checkpoint.get("identity", {})
    mismatches = _model_mismatches(checkpoint["model"], model.state_dict())
    if mismatches:
        made_with = saved.get("model", "another model")
        raise CheckpointError(
            f"cannot resume from {path}: it holds a different model ({made_with}): "
            f"{'; '.join(mismatches[:3])}. Build the model the checkpoint was made with "
            f"(the same --model and sizes), or start a new run in another output folder.")
    changed = [f"{key} {saved[key]!r} in the checkpoint, {identity[key]!r} now"
               for key in identity if key in saved and saved[key] != identity[key]]
    if changed and not resume_anyway:
        raise ValueError(
            f"cannot resume from {path}: this run differs from the checkpoint's: "
            f"{'; '.join(changed)}. Use the checkpoint's settings, or pass resume_anyway=True "
            f"(CLI: --resume-anyway) to continue with the new ones.")


def _model_mismatches(saved: dict, current: dict) -> list[str]:
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    lines = [f"{len(missing)} parameter(s) missing from it, e.g. {missing[0]}"] if missing else []
    if unexpected:
        lines.append(f"{len(unexpected)} unknown parameter(s) in it, e.g. {unexpected[0]}")
    for name in sorted(set(saved) & set(current)):
        if tuple(saved[name].shape) != tuple(current[name].shape):
            lines.append(f"{name} is {tuple(saved[name].shape)} there, "
                         f"{tuple(current[name].shape)} here")
    return lines

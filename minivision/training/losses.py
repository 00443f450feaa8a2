"""Classification losses: cross-entropy with label smoothing (Szegedy et al. 2016, sec. 7), and
binary cross-entropy on one-hot targets (as in DeiT III, Touvron et al. 2022).

Targets may be class indices (B,) or soft targets (B, K) such as CutMix/MixUp produce.

    CE:  -sum_k q_k log softmax(z)_k,        q = (1 - eps) y + eps / K
    BCE: -mean_k [q_k log s(z_k) + (1 - q_k) log(1 - s(z_k))],  s = sigmoid
"""
import torch
import torch.nn.functional as F


def soft_targets(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices (B,) -> one-hot floats (B, K); soft targets (B, K) pass through."""
    if targets.ndim == 2:
        return targets.float()
    return F.one_hot(targets.long(), num_classes).float()  # (B, K)


def hard_targets(targets: torch.Tensor) -> torch.Tensor:
    """Soft targets (B, K) -> the class with the largest weight (B,); indices pass through."""
    return targets.argmax(dim=1) if targets.ndim == 2 else targets


def classification_loss(
    logits: torch.Tensor, targets: torch.Tensor, *, kind: str = "ce", label_smoothing: float = 0.0
) -> torch.Tensor:
    """The mean loss over the batch.

    Args:
        logits: (B, K).
        targets: class indices (B,) or soft targets (B, K).
        kind: "ce" (softmax cross-entropy) or "bce" (sigmoid binary cross-entropy per class,
            averaged over B and K, as ``F.binary_cross_entropy_with_logits`` does).
        label_smoothing: eps; mixes the targets with the uniform distribution over K classes.

    Returns:
        a scalar tensor.
    """
    if kind == "ce":
        # F.cross_entropy takes indices or probabilities and applies the smoothing itself.
        target = targets.float() if targets.ndim == 2 else targets
        return F.cross_entropy(logits, target, label_smoothing=label_smoothing)
    if kind == "bce":
        num_classes = logits.shape[1]
        q = soft_targets(targets, num_classes)  # (B, K)
        q = q * (1.0 - label_smoothing) + label_smoothing / num_classes
        return F.binary_cross_entropy_with_logits(logits, q.to(logits.dtype))
    raise ValueError(f"loss kind must be 'ce' or 'bce', got {kind!r}.")

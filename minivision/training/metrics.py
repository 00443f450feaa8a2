"""Top-k accuracy: a prediction counts if the true class is among the k largest logits."""
import torch

from .losses import hard_targets


@torch.no_grad()
def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks=(1, 5)) -> dict:
    """The number of correct predictions for each k (tensors, so the caller can sum without
    a GPU sync). k larger than the number of classes counts as k = K (every class)."""
    labels = hard_targets(targets)  # (B,)
    max_k = min(max(ks), logits.shape[1])
    top = logits.topk(max_k, dim=1).indices  # (B, max_k), largest first
    hits = top == labels[:, None]  # (B, max_k)
    return {k: hits[:, : min(k, max_k)].any(dim=1).sum() for k in ks}


def topk_accuracy(logits: torch.Tensor, targets: torch.Tensor, ks=(1, 5)) -> dict:
    """Args:
        logits: (B, K).
        targets: class indices (B,) or soft targets (B, K) (their largest entry is the label).
        ks: the k values.

    Returns:
        {k: fraction of the batch whose label is in the top k}, floats in [0, 1].
    """
    correct = topk_correct(logits, targets, ks)
    return {k: c.item() / logits.shape[0] for k, c in correct.items()}

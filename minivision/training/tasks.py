"""Tasks: how a batch becomes a loss, and what counts as being right.

:func:`~minivision.training.fit` is one loop for every kind of training. What differs between a
classifier, a pretext task and a regression is three small functions, and a task is the object
that holds them:

- ``forward(model, batch, generator=...)`` -> ``(outputs, targets)``: run the model on a batch
  (fit calls it under autocast). Any randomness the task draws (which patches to mask, say) comes
  from ``generator``, which fit seeds with (seed, rank, epoch, batch): a resumed run then draws
  exactly what the uninterrupted one drew.
- ``loss(outputs, targets)`` -> :class:`TaskOutput`: the loss to minimise (in float32) and what
  to add up for the epoch's record (``train_loss``, ``train_acc``, ``train_<metric>``).
- ``evaluate(outputs, targets)`` -> a dict of *sums* over the batch, with ``"count"``: what
  :func:`~minivision.training.evaluate` averages over a whole loader (``test_<name>``).

:class:`ClassificationTask` is the default; the pretext tasks of :mod:`minivision.ssl` that are
not classifications bring their own (:class:`~minivision.ssl.MaskedRotationTask`).
"""
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .losses import classification_loss
from .metrics import topk_correct

TASK_STREAM = 7_919  # tells the task's seeds apart from the workers' (a prime, nothing more)


@dataclass
class TaskOutput:
    """What a task's ``loss`` makes of one batch of B samples.

    Attributes:
        loss: () the mean loss over the batch, float32; training calls ``backward`` on it.
        count: B, the weight of this batch in the epoch's means.
        correct: () how many of the B predictions were right (``train_acc`` = all correct / all
            counted); None for a task with no accuracy (a regression): no ``train_acc`` then.
        metrics: {name: () mean over the batch}, more numbers for the history, as
            ``train_<name>`` (e.g. ``train_pixel_mse``).
    """

    loss: torch.Tensor
    count: int
    correct: torch.Tensor | None = None
    metrics: dict = field(default_factory=dict)


class Task:
    """The interface fit and evaluate call; subclass it and write the three methods."""

    def forward(self, model: nn.Module, batch, *, generator: torch.Generator):
        """(outputs, targets) for one batch (already on the device); runs under autocast."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(model, batch, "
                                  "generator=...) -> (outputs, targets).")

    def loss(self, outputs, targets) -> TaskOutput:
        """The training loss and the counts of one batch."""
        raise NotImplementedError(f"{type(self).__name__} must define loss(outputs, targets) "
                                  "-> TaskOutput.")

    def evaluate(self, outputs, targets) -> dict:
        """Sums over one batch for evaluation, {"count": B, name: sum, ...}; by default the
        training loss and accuracy."""
        out = self.loss(outputs, targets)
        sums = {"count": out.count, "loss": out.loss.detach() * out.count}
        if out.correct is not None:
            sums["acc"] = out.correct
        for name, value in out.metrics.items():
            sums[name] = value.detach() * out.count
        return sums


class ClassificationTask(Task):
    """Images (B, C, H, W) -> logits (B, K); targets are class indices (B,) or soft (B, K).

    Training uses cross-entropy (``loss="ce"``) or binary cross-entropy (``"bce"``) with label
    smoothing (:func:`~minivision.training.classification_loss`) and counts top-1 hits;
    evaluation reports the loss *without* smoothing, top-1 and top-5 accuracy. Clips
    (B, T, C, H, W) -> logits work the same way.

    Args:
        loss: "ce" or "bce".
        label_smoothing: eps of the training loss.
    """

    def __init__(self, *, loss: str = "ce", label_smoothing: float = 0.0):
        if loss not in ("ce", "bce"):
            raise ValueError(f"loss must be 'ce' or 'bce', got {loss!r}.")
        self.kind, self.label_smoothing = loss, label_smoothing

    def forward(self, model, batch, *, generator=None):
        images, targets = batch
        return model(images), targets  # (B, K) logits

    def loss(self, logits, targets) -> TaskOutput:
        logits = logits.float()  # the loss in float32, whatever autocast computed the logits in
        loss = classification_loss(logits, targets, kind=self.kind,
                                   label_smoothing=self.label_smoothing)
        correct = topk_correct(logits.detach(), targets, ks=(1,))[1]
        return TaskOutput(loss=loss, count=len(targets), correct=correct)

    def evaluate(self, logits, targets) -> dict:
        logits = logits.float()
        correct = topk_correct(logits, targets, ks=(1, 5))
        return {"loss": classification_loss(logits, targets, kind=self.kind) * len(targets),
                "top1": correct[1], "top5": correct[5], "count": len(targets)}


def task_generator(seed: int, rank: int, epoch: int, batch: int, *,
                   evaluation: bool = False) -> torch.Generator:
    """The generator a task draws one batch's randomness from: a function of (seed, rank, epoch,
    batch) only, so a resumed run draws what the uninterrupted one drew.

    Its stream differs from the workers' augmentation seeds of the same batch
    (:func:`~minivision.training.batch_seeds.batch_seed`), and evaluation has its own.
    """
    stream = TASK_STREAM + int(evaluation)
    state = np.random.SeedSequence([seed, rank, epoch, batch, stream]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))

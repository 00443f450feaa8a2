"""Masking and rotation as one pretext task ("model M" of lesson 08).

A 32x32 image is cut into sixteen 8x8 patches. A random half of them is the set A; half of A is
*masked* (set to zero: the mean after normalisation) and the other half of A is *rotated*, all by
the same multiple of 90 degrees, drawn per image. A ViT sees the result and must

- say by how much the rotated patches were turned, from its [CLS] token (4 classes), and
- paint the masked patches back, from their own output tokens (a pixel regression).

The first needs to know which way up things are; the second needs context from the patches
around. The loss is the sum of a cross-entropy and a mean squared error over masked pixels only.
:class:`MaskedRotationTask` is the same as a task for :func:`~minivision.training.fit`.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..models.vit import VisionTransformer
from ..training.tasks import Task, TaskOutput


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C, p, p), patches in reading order (the order of the ViT's tokens)."""
    B, C, H, W = images.shape
    p = patch_size
    x = images.reshape(B, C, H // p, p, W // p, p)  # (B, C, h, p, w, p)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(B, (H // p) * (W // p), C, p, p)


def unpatchify(patches: torch.Tensor, image_size: int) -> torch.Tensor:
    """(B, N, C, p, p) -> (B, C, H, W): the inverse of :func:`patchify`."""
    B, N, C, p, _ = patches.shape
    h = w = image_size // p
    x = patches.reshape(B, h, w, C, p, p).permute(0, 3, 1, 4, 2, 5)  # (B, C, h, p, w, p)
    return x.reshape(B, C, h * p, w * p)


@dataclass
class MaskedRotationBatch:
    """What :func:`mask_and_rotate` returns for a batch of B images of N patches."""

    inputs: torch.Tensor  # (B, C, H, W): the corrupted images the model sees
    masked: torch.Tensor  # (B, N) bool: patches set to zero (reconstruct these)
    rotated: torch.Tensor  # (B, N) bool: patches turned by `rotation` quarter turns
    rotation: torch.Tensor  # (B,) long in 0..3: quarter turns (counter-clockwise), the class
    targets: torch.Tensor  # (B, N, C, p, p): the original patches


def mask_and_rotate(images: torch.Tensor, *, patch_size: int = 8, ratio: float = 0.5,
                    generator: torch.Generator | None = None) -> MaskedRotationBatch:
    """Corrupt a batch (B, C, H, W): a random ``ratio`` of the patches forms A; half of A is
    masked, the other half rotated by one random multiple of 90 degrees per image.

    The random draws come from ``generator`` (a CPU generator, or the global one), whatever
    device the images are on; the returned tensors are on the images' device.
    """
    if images.ndim != 4 or images.shape[-1] % patch_size or images.shape[-2] % patch_size:
        raise ValueError(f"expected images (B, C, H, W) with H and W divisible by patch_size "
                         f"{patch_size}, got shape {tuple(images.shape)}.")
    patches = patchify(images, patch_size)  # (B, N, C, p, p)
    B, N = patches.shape[:2]
    size_a = int(round(ratio * N))
    if size_a < 2:
        raise ValueError(f"ratio {ratio} of {N} patches leaves fewer than 2 in the set A.")
    # drawn on the generator's device (the CPU), then moved: the same sets on every device
    order = torch.rand(B, N, generator=generator).argsort(dim=1)  # a random order per image
    masked = torch.zeros(B, N, dtype=torch.bool)
    rotated = torch.zeros(B, N, dtype=torch.bool)
    masked.scatter_(1, order[:, : size_a // 2], True)
    rotated.scatter_(1, order[:, size_a // 2: size_a], True)
    rotation = torch.randint(0, 4, (B,), generator=generator)
    masked, rotated = masked.to(images.device), rotated.to(images.device)
    rotation = rotation.to(images.device)
    # every patch turned by each of the 4 angles; each image keeps the one of its own angle
    turns = torch.stack([torch.rot90(patches, k, dims=(-2, -1)) for k in range(4)])
    turned = turns[rotation, torch.arange(B, device=images.device)]  # (B, N, C, p, p)
    corrupted = torch.where(rotated[:, :, None, None, None], turned, patches)
    corrupted = torch.where(masked[:, :, None, None, None], 0.0, corrupted)
    return MaskedRotationBatch(unpatchify(corrupted, images.shape[-1]), masked, rotated,
                               rotation, patches)


class MaskedRotationViT(nn.Module):
    """A ViT with two heads: rotation (4 classes) on [CLS], pixels on every patch token.

    Args:
        vit: the encoder (its own classification head is not used); patch tokens must map to
            patches in reading order, as in :class:`VisionTransformer` with ``pool="cls"``.
    """

    def __init__(self, vit: VisionTransformer):
        super().__init__()
        config = vit.config
        self.vit, self.patch_size = vit, config.patch_size
        self.rotation_head = nn.Linear(config.embed_dim, 4)
        self.pixel_head = nn.Linear(config.embed_dim, config.in_channels * config.patch_size ** 2)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, C, H, W) -> (rotation logits (B, 4), patches (B, N, C, p, p))."""
        tokens = self.vit.forward_features(inputs)  # (B, 1 + N, D)
        rotation_logits = self.rotation_head(tokens[:, 0])  # (B, 4), from [CLS]
        pixels = self.pixel_head(tokens[:, 1:])  # (B, N, C*p*p)
        B, N = pixels.shape[:2]
        p = self.patch_size
        return rotation_logits, pixels.reshape(B, N, -1, p, p)


def masked_rotation_loss(rotation_logits: torch.Tensor, patches: torch.Tensor,
                         batch: MaskedRotationBatch, *, pixel_weight: float = 1.0) -> dict:
    """Cross-entropy on the rotation + ``pixel_weight`` * MSE on the masked patches only.

    Returns:
        {"loss", "rotation_loss", "pixel_loss", "rotation_acc"} (tensors, the first with grad).
    """
    rotation_loss = F.cross_entropy(rotation_logits, batch.rotation)
    pixel_loss = F.mse_loss(patches[batch.masked], batch.targets[batch.masked])
    accuracy = (rotation_logits.argmax(dim=1) == batch.rotation).float().mean()
    return {"loss": rotation_loss + pixel_weight * pixel_loss, "rotation_loss": rotation_loss,
            "pixel_loss": pixel_loss, "rotation_acc": accuracy}


class MaskedRotationTask(Task):
    """Model M's pretext task, for :func:`~minivision.training.fit`: corrupt every batch with
    :func:`mask_and_rotate`, run a :class:`MaskedRotationViT`, minimise
    :func:`masked_rotation_loss`.

    The corruption is drawn from the generator that fit hands each batch, seeded by (seed, rank,
    epoch, batch): every epoch sees new sets A and new angles, and a resumed run the same ones
    as the run it continues. :func:`~minivision.training.evaluate` seeds it by the batch's index
    alone, so that every evaluation corrupts the test images in the same way.

    What goes into the history: the accuracy is the rotation accuracy (``train_acc``,
    ``test_acc``; chance 25%), beside ``train_pixel_mse`` / ``test_pixel_mse`` (the MSE on the
    masked pixels), ``*_rotation_loss``, and ``test_zero_mse``: the MSE of painting every masked
    patch with zeros, the trivial answer the pixel head must beat. Every image has the same
    number of masked patches, so the per-image means are the means over masked pixels.

    A batch is the images (B, C, H, W), or a tuple whose first item they are (labels unused).

    Args:
        patch_size: the model's patch size (the patches that are masked and rotated).
        ratio: the share of the patches in the set A.
        pixel_weight: lambda, the weight of the pixel loss.
    """

    def __init__(self, *, patch_size: int = 8, ratio: float = 0.5, pixel_weight: float = 1.0):
        self.patch_size, self.ratio, self.pixel_weight = patch_size, ratio, pixel_weight

    def forward(self, model, batch, *, generator=None):
        images = batch if isinstance(batch, torch.Tensor) else batch[0]  # (B, C, H, W)
        corrupted = mask_and_rotate(images, patch_size=self.patch_size, ratio=self.ratio,
                                    generator=generator)
        return model(corrupted.inputs), corrupted  # ((B, 4), (B, N, C, p, p)), the batch

    def loss(self, outputs, corrupted: MaskedRotationBatch) -> TaskOutput:
        rotation_logits, patches = outputs
        losses = masked_rotation_loss(rotation_logits.float(), patches.float(), corrupted,
                                      pixel_weight=self.pixel_weight)
        hits = (rotation_logits.detach().argmax(dim=1) == corrupted.rotation).sum()
        return TaskOutput(loss=losses["loss"], count=len(corrupted.rotation), correct=hits,
                          metrics={"pixel_mse": losses["pixel_loss"].detach(),
                                   "rotation_loss": losses["rotation_loss"].detach()})

    def evaluate(self, outputs, corrupted: MaskedRotationBatch) -> dict:
        sums = super().evaluate(outputs, corrupted)  # count, loss, acc, pixel_mse, rotation_loss
        painted_zeros = corrupted.targets[corrupted.masked].float().square().mean()
        sums["zero_mse"] = painted_zeros * sums["count"]
        return sums

"""Per-sample augmentation of a whole batch: random crop with padding, flips, CutMix and MixUp.

The per-image transforms of ``default_transforms`` draw new parameters for every image: its own
crop offset, its own flip. ``torchvision.transforms.v2`` applied to a batch (B, C, H, W) draws *one*
set for the whole batch instead, and so do v2's CutMix and MixUp (one lambda, one box, partners
by ``roll(1)``). The functions here keep one draw per sample and apply them to the batch in a few
tensor operations, so that a batch held on a GPU is augmented there (see ``device.py``).

Random numbers and their use are separate. :func:`draw_params` draws every parameter of a batch
from a NumPy generator (on the host: the same numbers on a CPU and a GPU); :func:`augment_batch`
and :func:`mix_batch` apply them. The tests give the same numbers to v2, image by image.

CutMix (Yun et al. 2019) pastes a box of a partner image p(i) into image i; MixUp (Zhang et al.
2018) blends the two. With lam_i ~ Beta(alpha, alpha), per sample:
    x_i = lam_i * x_i + (1 - lam_i) * x_p(i),   y_i = lam_i * y_i + (1 - lam_i) * y_p(i)
(for CutMix, lam_i is the area of image i that the box leaves in place).
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

MIX_KINDS = ("cutmix", "mixup", "both")


@dataclass(frozen=True)
class BatchAugment:
    """The random transforms of a training batch, each with its probability or size.

    Args:
        padding: pad every side by this many zero pixels, then crop the original size at a
            random offset (v2.RandomCrop(size, padding=padding)); 0: no crop.
        hflip, vflip: probability of a horizontal / vertical flip, per image.
        mix: None, "cutmix", "mixup" or "both" (each sample picks one of the two at random).
        alpha: the Beta(alpha, alpha) parameter of the mixing weight.
        num_classes: K, the width of the soft targets (needed with ``mix``).
    """

    padding: int = 0
    hflip: float = 0.0
    vflip: float = 0.0
    mix: str | None = None
    alpha: float = 1.0
    num_classes: int | None = None

    def __post_init__(self):
        if self.mix is not None and self.mix not in MIX_KINDS:
            raise ValueError(f"mix must be None or one of {MIX_KINDS}, got {self.mix!r}.")
        if self.mix is not None and (self.num_classes is None or self.num_classes < 2):
            raise ValueError(f"mix={self.mix!r} needs num_classes >= 2, got {self.num_classes}.")
        if self.alpha <= 0 or self.padding < 0:
            raise ValueError(f"need alpha > 0 and padding >= 0, got {self.alpha}, {self.padding}.")

    @classmethod
    def from_transforms(cls, transforms: list, **mix) -> "BatchAugment":
        """The batch version of a list of v2 transforms: flips, and RandomCrop(size, padding=p)
        with ``size`` the images' own (the crop gives back the size it was given).

        A ValueError names a transform that has no batch version here (e.g. RandomResizedCrop).
        """
        kwargs = {}
        for t in transforms:
            if isinstance(t, v2.RandomCrop) and _symmetric_padding(t) is not None:
                kwargs["padding"] = _symmetric_padding(t)
            elif isinstance(t, v2.RandomHorizontalFlip):
                kwargs["hflip"] = t.p
            elif isinstance(t, v2.RandomVerticalFlip):
                kwargs["vflip"] = t.p
            else:
                raise ValueError(f"{type(t).__name__} has no per-sample batch version in "
                                 "minivision.data.batch_augment; use the per-image transforms "
                                 "(a DataLoader) for this dataset.")
        return cls(**kwargs, **mix)


def _symmetric_padding(crop: v2.RandomCrop) -> int | None:
    """The padding of a RandomCrop that pads every side alike with zeros, keeping the size."""
    pad = crop.padding
    if pad is None or len(set(pad)) != 1 or crop.fill not in (0, None):
        return None
    if crop.padding_mode != "constant" or crop.pad_if_needed:
        return None
    return pad[0]


def draw_params(rng: np.random.Generator, batch_size: int, image_size: int,
                aug: BatchAugment) -> dict[str, np.ndarray]:
    """Every random number of one batch, one per sample: crop offsets, flips, mix partners.

    Args:
        rng: e.g. ``np.random.default_rng([seed, rank, epoch, batch])``.
        batch_size: B. image_size: H = W of the images.
        aug: what to draw for.

    Returns:
        NumPy arrays of length B: ``top``, ``left`` (crop offsets in [0, 2 * padding]),
        ``hflip``, ``vflip`` (bool); with ``aug.mix`` also ``partner`` (a permutation),
        ``cutmix`` (bool: CutMix, else MixUp), ``box`` (B, 4) as (x1, y1, x2, y2), ``lam``
        (float64, the kept fraction: the box's complement for CutMix) and ``one_minus_lam``.
    """
    B, S = batch_size, image_size
    params = {
        "top": rng.integers(0, 2 * aug.padding + 1, size=B),
        "left": rng.integers(0, 2 * aug.padding + 1, size=B),
        "hflip": rng.random(B) < aug.hflip,
        "vflip": rng.random(B) < aug.vflip,
    }
    if aug.mix is None:
        return params
    lam = rng.beta(aug.alpha, aug.alpha, size=B)  # (B,) float64
    cutmix = np.full(B, aug.mix == "cutmix") if aug.mix != "both" else rng.random(B) < 0.5
    # v2.CutMix's box: a centre anywhere, half-sides r * S with r = sqrt(1 - lam) / 2, clipped
    centre_x, centre_y = rng.integers(0, S, size=B), rng.integers(0, S, size=B)
    half = (0.5 * np.sqrt(1.0 - lam) * S).astype(np.int64)  # int(r * S), as v2 does
    x1, y1 = np.maximum(centre_x - half, 0), np.maximum(centre_y - half, 0)
    x2, y2 = np.minimum(centre_x + half, S), np.minimum(centre_y + half, S)
    box_lam = 1.0 - (x2 - x1) * (y2 - y1) / (S * S)
    params.update(partner=rng.permutation(B), cutmix=cutmix,
                  box=np.stack([x1, y1, x2, y2], axis=1), lam=np.where(cutmix, box_lam, lam))
    params["one_minus_lam"] = 1.0 - params["lam"]  # in float64, as v2 computes 1.0 - lam
    return params


def crop_with_padding(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor,
                      padding: int) -> torch.Tensor:
    """Zero-pad every image, then crop each at its own offset, back to (H, W).

    Args:
        images: (B, C, H, W), any dtype.
        top, left: (B,) integer offsets in [0, 2 * padding] into the padded image.

    Returns:
        (B, C, H, W): image i is ``padded_i[:, top_i:top_i + H, left_i:left_i + W]``.
    """
    H, W = images.shape[-2:]
    padded = F.pad(images, [padding] * 4)  # (B, C, H + 2p, W + 2p), zeros as v2.RandomCrop
    # every H x W window of the padded image, as a view: (B, C, 2p + 1, 2p + 1, H, W)
    windows = padded.unfold(2, H, 1).unfold(3, W, 1)
    batch = torch.arange(len(images), device=images.device)  # (B,)
    return windows[batch, :, top, left]  # image i's window (top_i, left_i): (B, C, H, W)


def flip_where(images: torch.Tensor, flip: torch.Tensor, dim: int) -> torch.Tensor:
    """Images (B, C, H, W) with those where ``flip`` (B,) is True mirrored along ``dim``."""
    return torch.where(flip[:, None, None, None], images.flip(dim), images)


def augment_batch(images: torch.Tensor, params: dict, aug: BatchAugment) -> torch.Tensor:
    """Crop and flip a batch (B, C, H, W), every image with its own ``params`` (tensors)."""
    if aug.padding > 0:
        images = crop_with_padding(images, params["top"], params["left"], aug.padding)
    if aug.hflip > 0:
        images = flip_where(images, params["hflip"], dim=-1)
    if aug.vflip > 0:
        images = flip_where(images, params["vflip"], dim=-2)
    return images


def mix_batch(images: torch.Tensor, labels: torch.Tensor, params: dict,
              num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix or MixUp every sample with its partner, each with its own box or weight.

    Args:
        images: (B, C, H, W) float. labels: (B,) int64.
        params: tensors ``partner`` (B,), ``cutmix`` (B,) bool, ``box`` (B, 4), ``lam`` and
            ``one_minus_lam`` (B,) float32 (1 - lam computed in float64, as v2 does).

    Returns:
        images (B, C, H, W) and soft targets (B, K) whose rows sum to 1.
    """
    H, W = images.shape[-2:]
    partner = params["partner"]
    others = images[partner]  # (B, C, H, W): sample i's partner
    lam = params["lam"][:, None, None, None]  # (B, 1, 1, 1)
    rest = params["one_minus_lam"][:, None, None, None]
    blended = others.mul(rest).add(images.mul(lam))  # MixUp, in v2's order of operations
    x1, y1, x2, y2 = params["box"].unbind(1)  # (B,) each
    rows = torch.arange(H, device=images.device)
    cols = torch.arange(W, device=images.device)
    in_rows = (rows >= y1[:, None]) & (rows < y2[:, None])  # (B, H)
    in_cols = (cols >= x1[:, None]) & (cols < x2[:, None])  # (B, W)
    in_box = in_rows[:, None, :, None] & in_cols[:, None, None, :]  # (B, 1, H, W)
    pasted = torch.where(in_box, others, images)  # CutMix
    images = torch.where(params["cutmix"][:, None, None, None], pasted, blended)
    one_hot = F.one_hot(labels, num_classes).float()  # (B, K)
    targets = one_hot[partner].mul(rest[:, :, 0, 0]).add(one_hot.mul(lam[:, :, 0, 0]))  # (B, K)
    return images, targets

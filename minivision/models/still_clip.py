"""A video model as an image encoder: every image is a still clip (lesson 10 on lesson 09's model).

The course's pseudo-video exercise (lesson 09) tests its video model on still clips, one test
image repeated in all T frames. Lesson 10 keeps that model as its image encoder and puts a
cross-attention block on it, and :class:`~minivision.models.CaptionConditionedClassifier` asks
its encoder for images (B, C, H, W) -> tokens (B, N, D). :class:`StillClipEncoder` answers for a
:class:`~minivision.models.PseudoVideoClassifier`:

    images (B, C, H, W) -> still clips (B, T, C, H, W) -> temporal tokens (B, 1 + T, D)

computed with :meth:`PseudoVideoClassifier.still_features`: one backbone pass per image, whose
frame token is repeated T times before the temporal blocks (the same tokens as the T-frame clip).
"""
import torch
from torch import nn

from .video import PseudoVideoClassifier
from .vit import ViTConfig


class StillClipEncoder(nn.Module):
    """Reads each image as a still clip of a video model; the video model is kept as it is.

    Args:
        video: a :class:`PseudoVideoClassifier` (for example lesson 09's, loaded from the cache).
    """

    def __init__(self, video: PseudoVideoClassifier):
        super().__init__()
        if not isinstance(video, PseudoVideoClassifier):
            raise ValueError(f"StillClipEncoder needs a PseudoVideoClassifier, got "
                             f"{type(video).__name__}; an image model needs no wrapper.")
        self.video = video

    @property
    def config(self) -> ViTConfig:
        """The video model's token settings (width, heads, MLP ratio, norm)."""
        return self.video.config

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images -> (B, 1 + T, D): the clip's [CLS], then one token per frame."""
        return self.video.still_features(images)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1 + T, D) -> (B, D): the clip's [CLS]."""
        return self.video.pool(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images -> (B, num_classes): the video model's logits on still clips."""
        x = self.forward_features(images)  # (B, 1 + T, D)
        return self.video.forward_head(x)

    # What the model tells training code (the contract: models/protocol.py).
    def get_classifier(self) -> nn.Module:
        return self.video.get_classifier()


__all__ = ["StillClipEncoder"]

"""Build any minivision image classifier by name: ``create_model("resnet18", num_classes=10)``.

The names are every ViT preset of :data:`minivision.models.vit.PRESETS` and the CNN baselines of
:mod:`minivision.models.cnn`. The CLI and the lessons use this one entry point, so that comparing
a ViT with a ResNet is a change of one string.
"""
from torch import nn

from .cct import PRESETS as CCT_PRESETS
from .cct import CCTConfig, CompactTransformer
from .cnn import STNClassifier, resnet18, resnet50, vgg16
from .vit import PRESETS, ViTConfig, VisionTransformer

CNN_NAMES = ("resnet18", "resnet50", "vgg16", "stn_cnn", "cnn")
MODEL_NAMES = tuple(sorted(PRESETS)) + tuple(sorted(CCT_PRESETS)) + CNN_NAMES


def create_model(
    name: str, *, num_classes: int, image_size: int = 32, in_channels: int = 3
) -> nn.Module:
    """A randomly initialised classifier.

    Args:
        name: one of ``MODEL_NAMES``: a ViT preset (``"vit_tiny_patch4_32"``, ...), ``"resnet18"``,
            ``"resnet50"``, ``"vgg16"``, a compact convolutional transformer (``"cct_7_3x1_32"``,
            ...; :mod:`minivision.models.cct`), ``"stn_cnn"`` (the lesson-02 CNN with a spatial
            transformer) or ``"cnn"`` (the same CNN without it).
        num_classes: outputs of the head.
        image_size: input height and width. The ResNets and VGG work at any size of at least 32;
            the ViT's position embeddings and the STN classifier's layers are sized by it.
        in_channels: input channels.

    Returns:
        the model: images (B, in_channels, image_size, image_size) -> logits (B, num_classes).
    """
    if name in PRESETS:
        config = ViTConfig.from_preset(
            name, num_classes=num_classes, image_size=image_size, in_channels=in_channels
        )
        return VisionTransformer(config)
    if name in CCT_PRESETS:
        config = CCTConfig.from_preset(
            name, num_classes=num_classes, image_size=image_size, in_channels=in_channels
        )
        return CompactTransformer(config)
    if name == "resnet18":
        return resnet18(num_classes=num_classes, in_channels=in_channels)
    if name == "resnet50":
        return resnet50(num_classes=num_classes, in_channels=in_channels)
    if name == "vgg16":
        return vgg16(num_classes=num_classes, in_channels=in_channels)
    if name in ("stn_cnn", "cnn"):
        use_stn = name == "stn_cnn"
        return STNClassifier(
            num_classes, use_stn=use_stn, in_channels=in_channels, image_size=image_size
        )
    raise ValueError(f"unknown model {name!r}; choose one of {list(MODEL_NAMES)}.")

"""Models built from minivision.layers."""
from .cnn import VGG, ResNet, STNClassifier, resnet18, resnet50, vgg16
from .multimodal import CaptionConditionedClassifier
from .registry import MODEL_NAMES, create_model
from .video import (
    FactorisedEncoderViT,
    FactorisedSelfAttentionViT,
    PerFrameViT,
    PseudoVideoClassifier,
)
from .vit import PRESETS, ViTConfig, VisionTransformer

__all__ = [
    "MODEL_NAMES",
    "PRESETS",
    "CaptionConditionedClassifier",
    "FactorisedEncoderViT",
    "FactorisedSelfAttentionViT",
    "PerFrameViT",
    "PseudoVideoClassifier",
    "ResNet",
    "STNClassifier",
    "VGG",
    "ViTConfig",
    "VisionTransformer",
    "create_model",
    "resnet18",
    "resnet50",
    "vgg16",
]

"""Models built from minivision.layers."""
from .cct import CCTConfig, CompactTransformer
from .cnn import VGG, ResNet, STNClassifier, resnet18, resnet50, vgg16
from .caption_classifier import CaptionConditionedClassifier
from .init import init_linear_and_norm
from .parameters import count_parameters
from .registry import MODEL_NAMES, create_model
from .still_clip import StillClipEncoder
from .video import (
    FactorisedEncoderViT,
    FactorisedSelfAttentionViT,
    PerFrameViT,
    PseudoVideoClassifier,
)
from .vit import PRESETS, ViTConfig, VisionTransformer
from .vit_import import load_hf, load_timm, load_torchvision

__all__ = [
    "MODEL_NAMES",
    "PRESETS",
    "CCTConfig",
    "CaptionConditionedClassifier",
    "CompactTransformer",
    "FactorisedEncoderViT",
    "FactorisedSelfAttentionViT",
    "PerFrameViT",
    "PseudoVideoClassifier",
    "ResNet",
    "STNClassifier",
    "StillClipEncoder",
    "VGG",
    "ViTConfig",
    "VisionTransformer",
    "count_parameters",
    "create_model",
    "init_linear_and_norm",
    "load_hf",
    "load_timm",
    "load_torchvision",
    "resnet18",
    "resnet50",
    "vgg16",
]

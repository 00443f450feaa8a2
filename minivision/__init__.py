"""minivision: modern computer vision, vision transformers above all, built by hand in PyTorch.

Public classes are importable from here: ``from minivision import VisionTransformer, ViTConfig``.
The analysis tools live in ``minivision.analysis`` (they load matplotlib, so they are not
imported here).
"""
# The one place that holds the version: pyproject.toml reads it, and so do the lessons' install
# cells (minivision.lesson.install_cell), pinned to the tag v<version>.
__version__ = "0.1.0"

from .layers import (Attention, Block, CrossAttention, CrossAttentionBlock, Embeddings, Encoder,
                     EncoderOutput, FactorisedEncoder, FactorisedSelfAttentionBlock, Mlp,
                     PatchEmbeddings, SpatialTransformer, TemporalEncoder)
from .models import (MODEL_NAMES, PRESETS, CaptionConditionedClassifier, FactorisedEncoderViT,
                     FactorisedSelfAttentionViT, PerFrameViT, PseudoVideoClassifier,
                     STNClassifier, ViTConfig, VisionTransformer, create_model, load_hf,
                     load_timm, load_torchvision, resnet18, resnet50, vgg16)
from .models import CCTConfig, CompactTransformer
from .training import TrainConfig, evaluate, fit, plot_history

__all__ = [
    "MODEL_NAMES", "PRESETS", "Attention", "Block", "CaptionConditionedClassifier",
    "CCTConfig", "CompactTransformer",
    "CrossAttention", "CrossAttentionBlock",
    "Embeddings", "Encoder", "EncoderOutput", "FactorisedEncoder", "FactorisedEncoderViT",
    "FactorisedSelfAttentionBlock", "FactorisedSelfAttentionViT", "Mlp", "PatchEmbeddings",
    "PerFrameViT", "PseudoVideoClassifier", "STNClassifier", "SpatialTransformer",
    "TemporalEncoder", "TrainConfig", "ViTConfig", "VisionTransformer", "create_model",
    "evaluate", "fit", "load_hf", "load_timm", "load_torchvision", "plot_history", "resnet18",
    "resnet50", "vgg16",
]

"""minivision: modern computer vision, vision transformers above all, built by hand in PyTorch.

Public classes are importable from here: ``from minivision import VisionTransformer, ViTConfig``.
"""
from .layers import Attention, Block, Embeddings, Encoder, EncoderOutput, Mlp, PatchEmbeddings
from .models import PRESETS, ViTConfig, VisionTransformer

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "Attention",
    "Block",
    "Embeddings",
    "Encoder",
    "EncoderOutput",
    "Mlp",
    "PatchEmbeddings",
    "ViTConfig",
    "VisionTransformer",
]

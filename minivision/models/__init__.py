"""Models built from minivision.layers."""
from .vit import PRESETS, ViTConfig, VisionTransformer

__all__ = ["PRESETS", "ViTConfig", "VisionTransformer"]

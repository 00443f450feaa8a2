"""The from-scratch building blocks, one concept per file."""
from .attention import Attention, scaled_dot_product_attention
from .block import Block, drop_path
from .embeddings import Embeddings, PatchEmbeddings, resample_pos_embed
from .encoder import Encoder, EncoderOutput
from .mlp import Mlp

__all__ = [
    "Attention",
    "Block",
    "Embeddings",
    "Encoder",
    "EncoderOutput",
    "Mlp",
    "PatchEmbeddings",
    "drop_path",
    "resample_pos_embed",
    "scaled_dot_product_attention",
]

"""The from-scratch building blocks, one concept per file."""
from . import grid_sample
from .attention import Attention, scaled_dot_product_attention
from .block import Block, drop_path
from .cross_attention import CrossAttention, CrossAttentionBlock
from .embeddings import Embeddings, PatchEmbeddings, resample_pos_embed
from .encoder import Encoder, EncoderOutput
from .mlp import Mlp
from .spatiotemporal import FactorisedEncoder, FactorisedSelfAttentionBlock, TemporalEncoder
from .stn import SpatialTransformer

__all__ = [
    "Attention",
    "Block",
    "CrossAttention",
    "CrossAttentionBlock",
    "Embeddings",
    "Encoder",
    "EncoderOutput",
    "FactorisedEncoder",
    "FactorisedSelfAttentionBlock",
    "Mlp",
    "PatchEmbeddings",
    "SpatialTransformer",
    "TemporalEncoder",
    "drop_path",
    "grid_sample",
    "resample_pos_embed",
    "scaled_dot_product_attention",
]

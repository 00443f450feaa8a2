"""Tools to look inside trained networks: kernels and feature maps (lesson 01), attention maps,
rollout, mean attention distance and effective tokens (lesson 06), Grad-CAM (lesson 07), token
similarity and CKA (lesson 08), and the hooks they all read layers with
(:mod:`minivision.analysis.hooks`: record what a layer receives or returns, in eval mode, with
every hook removed afterwards).

Every function that draws returns a matplotlib Figure; the others return tensors.
"""

from .attention_maps import attention_maps, cls_attention_map, overlay, plot_attention_grid
from .attention_statistics import effective_tokens, mean_attention_distance
from .cka import MinibatchCKA, cka_matrix, gram_linear, linear_cka, plot_cka_matrix, unbiased_hsic
from .feature_maps import feature_maps, plot_feature_maps
from .gradcam import GradCAM
from .grid import normalize_maps, to_grid, tokens_to_feature_map, upsample
from .hooks import (capture_input, capture_output, eval_mode, record_inputs, record_outputs,
                    to_model_device)
from .kernels import (
    conv_layers,
    kernel_magnitudes,
    plot_first_layer_kernels,
    plot_kernel_magnitudes,
    plot_kernels_channelwise,
)
from .rollout import attention_rollout, rollout_map
from .similarity import similarity_map, token_cosine_similarity, token_similarity_matrix

__all__ = [
    "GradCAM",
    "MinibatchCKA",
    "attention_maps",
    "attention_rollout",
    "capture_input",
    "capture_output",
    "cka_matrix",
    "cls_attention_map",
    "conv_layers",
    "effective_tokens",
    "eval_mode",
    "feature_maps",
    "gram_linear",
    "kernel_magnitudes",
    "linear_cka",
    "mean_attention_distance",
    "normalize_maps",
    "overlay",
    "plot_attention_grid",
    "plot_cka_matrix",
    "plot_feature_maps",
    "plot_first_layer_kernels",
    "plot_kernel_magnitudes",
    "plot_kernels_channelwise",
    "record_inputs",
    "record_outputs",
    "rollout_map",
    "similarity_map",
    "to_grid",
    "to_model_device",
    "token_cosine_similarity",
    "token_similarity_matrix",
    "tokens_to_feature_map",
    "unbiased_hsic",
    "upsample",
]

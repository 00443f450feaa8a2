"""What a model tells the training and analysis code about itself, so that they never guess
from attribute names (``"encoder.blocks."``, ``blocks[-1].norm1``).

timm keeps this knowledge on the model (``no_weight_decay()``, ``group_matcher()``,
``get_classifier()``); minivision does the same with a few methods named for what the lessons
teach. A model provides those that apply to it. Each item says what the model answers, who asks,
and what happens when a model does not answer:

- ``no_weight_decay()``: the names (relative to the model, as in timm) of the parameters besides
  the 1-D ones that take no weight decay: position embeddings, [CLS]. Asked by
  ``param_groups_weight_decay`` and ``param_groups_lrd``, of every submodule (so a ViT inside a
  video model answers for its own). No answer: only the 1-D parameters skip the decay.
- ``get_classifier()``: the last layer, the one a new task replaces (timm's name). Asked by
  "head" fine-tuning. No answer: the model's last ``nn.Linear``.
- ``layer_id(name)`` and ``num_layers``: a parameter's layer for layer-wise lr decay, 0 for the
  embeddings, i + 1 for block i, ``num_layers`` (L + 1) for the final norm and the head (MAE's
  ``get_layer_id_for_vit``). Asked by ``param_groups_lrd`` and "last_k" fine-tuning. No answer:
  a ValueError that names the model and the two methods.
- ``gradcam_layer()``: the module whose output Grad-CAM explains by default. Asked by
  ``GradCAM(model)``. No answer: a ValueError (pass ``target_layer=``).
- ``num_prefix_tokens``: the tokens before the patches (1 for [CLS]). Asked by Grad-CAM on
  tokens (no answer: 0) and ``rollout_map`` (no answer: a ValueError).
- ``patch_grid((H, W))``: the (g_h, g_w) grid of patch tokens. Asked by ``rollout_map``.

:class:`~minivision.models.VisionTransformer` answers all of them; the CNNs answer
``no_weight_decay``, ``get_classifier`` and ``gradcam_layer``; the video models
``no_weight_decay`` and ``get_classifier``. :func:`require` is the one place that turns a missing
answer into an error message.
"""
from torch import nn


def require(model: nn.Module, *names: str, purpose: str, hint: str = "") -> None:
    """A ValueError naming the model's class and the methods it lacks, unless it has them all.

    Args:
        model: the model that is asked.
        names: the methods or attributes listed above that ``purpose`` needs.
        purpose: what was asked for, e.g. "layer-wise lr decay".
        hint: how to proceed without them.
    """
    missing = [name for name in names if not hasattr(model, name)]
    if missing:
        raise ValueError(f"{purpose} needs {type(model).__name__} to say what it is: it has no "
                         f"{' and no '.join(missing)} (see minivision.models.protocol). {hint}")


__all__ = ["require"]

"""CLIP text embeddings: captions -> one unit vector each (Radford et al. 2021, the text half of
Figure 3's ``T_e = l2_normalize(text_encoder(T) W_t)``).

open_clip is imported inside the functions, so importing this module is cheap.
"""
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..runtime import pick_device, tqdm

CLIP_NAME = "ViT-B-32"
"""The CLIP architecture lesson 10 uses in Colab, with ``pretrained="openai"``."""

_SCHEMAS = ("hf-hub:", "local-dir:")  # open_clip reads config and weights from there


def load_clip(model_name: str = CLIP_NAME, pretrained: str | None = "openai", device=None):
    """An open_clip CLIP model (eval mode) and its tokenizer.

    Args:
        model_name: an open_clip architecture (``open_clip.list_models()``), one registered with
            ``open_clip.add_model_config`` (:func:`minivision.text.make_tiny_clip_config`), or
            ``"local-dir:<folder>"`` / ``"hf-hub:<repo>"``, which hold their own config and
            weights (:func:`minivision.text.make_tiny_clip` writes such a folder).
        pretrained: the weights' tag (``open_clip.list_pretrained()``); downloads once. None
            builds the architecture with random weights, offline. Ignored with a schema.
        device: None picks CUDA, then MPS, then the CPU.

    Returns:
        ``(model, tokenizer)``; ``tokenizer(list_of_str)`` gives (N, context_length) token ids.
    """
    import open_clip

    if model_name.startswith(_SCHEMAS):
        pretrained = None  # the folder or repository names its own weights
    try:
        model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    except (OSError, RuntimeError) as err:  # open_clip raises RuntimeError when a download fails
        raise RuntimeError(
            f"could not load CLIP {model_name!r} with pretrained={pretrained!r}: {err}\n"
            "Online (Colab) the weights download by themselves. Offline, use pretrained=None for "
            "random weights, or a folder written by minivision.text.make_tiny_clip, passed as "
            "'local-dir:<folder>'."
        ) from err
    tokenizer = open_clip.get_tokenizer(model_name)
    return model.to(pick_device(device)).eval(), tokenizer


def clip_text_embeddings(
    texts: Sequence[str],
    model,
    tokenizer,
    *,
    batch_size: int = 256,
    normalize: bool = True,
    progress: bool = True,
) -> torch.Tensor:
    """One CLIP embedding per text, computed without gradients.

    Args:
        texts: N strings.
        model, tokenizer: from :func:`load_clip`. The model's mode is left as it is (eval after
            :func:`load_clip`).
        batch_size: texts per ``encode_text`` call.
        normalize: scale every row to unit length, as CLIP does before its cosine similarities.
        progress: show a tqdm bar over the batches.

    Returns:
        (N, E) float32 tensor on the CPU, E the model's ``embed_dim``.
    """
    device = next(model.parameters()).device
    chunks = []
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="text embeddings", disable=not progress, leave=False):
        tokens = tokenizer(list(texts[start : start + batch_size])).to(device)  # (b, L)
        with torch.no_grad():
            x = model.encode_text(tokens)  # (b, E)
        if normalize:
            x = F.normalize(x, dim=-1)
        chunks.append(x.float().cpu())
    return torch.cat(chunks)  # (N, E)


__all__ = ["CLIP_NAME", "clip_text_embeddings", "load_clip"]

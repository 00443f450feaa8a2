"""BLIP captioning: images -> one caption each (Li et al. 2022, "Bootstrapping Language-Image
Pre-training", the image-grounded text decoder of Figure 2).

BLIP's decoder writes a caption one token at a time while it cross-attends to the image's ViT
tokens. Here it is used greedily (``num_beams=1``, no sampling), so the same images always give the
same captions. transformers is imported inside the functions, so importing this module is cheap.
"""
import os

import torch

from ..runtime import pick_device, tqdm

BLIP_NAME = "Salesforce/blip-image-captioning-base"
"""The captioner lesson 10 uses in Colab (about 250M parameters, downloaded once)."""


def load_blip(name_or_path: str | os.PathLike = BLIP_NAME, device=None):
    """A BLIP captioning model and its processor, in eval mode.

    Args:
        name_or_path: a model hub name (downloads once, then comes from the cache) or a local
            directory written by ``save_pretrained`` (for example by
            :func:`minivision.text.make_tiny_blip`).
        device: None picks CUDA, then MPS, then the CPU (:func:`minivision.runtime.pick_device`).

    Returns:
        ``(processor, model)``: a ``BlipProcessor`` and a ``BlipForConditionalGeneration``.
    """
    from transformers import BlipForConditionalGeneration, BlipProcessor

    try:
        processor = BlipProcessor.from_pretrained(str(name_or_path))
        model = BlipForConditionalGeneration.from_pretrained(str(name_or_path))
    except (OSError, ValueError) as err:  # ValueError: a missing local path is not a valid hub name
        raise OSError(
            f"could not load BLIP from {str(name_or_path)!r}: {err}\n"
            "Online (Colab) the hub name downloads by itself. Offline, pass a local directory that "
            "holds a processor and a model saved with save_pretrained, or build a tiny random "
            "stand-in with minivision.text.make_tiny_blip(directory)."
        ) from err
    return processor, model.to(pick_device(device)).eval()


def blip_inputs(images, processor, *, prompt: str | None = None):
    """What BLIP's ``generate`` takes: resized, normalised ``pixel_values`` (and the prompt's ids).

    Args:
        images: a float tensor (b, C, H, W) in [0, 1], or a list of PIL images.
        processor: a ``BlipProcessor``.
        prompt: text the captions should continue, or None.

    Returns:
        the processor's ``BatchFeature``: ``pixel_values`` (b, 3, S, S), S the processor's size,
        and with a prompt ``input_ids`` and ``attention_mask`` (b, L).
    """
    is_tensor = isinstance(images, torch.Tensor)
    if is_tensor:
        check_image_tensor(images)
        images = list(images.cpu())  # b tensors (C, H, W); the processor resizes each one
    text = None if prompt is None else [prompt] * len(images)
    # do_rescale=False: tensors are already in [0, 1], while PIL images (0-255) need the 1/255
    return processor(images=images, text=text, return_tensors="pt", do_rescale=not is_tensor)


def caption_images(
    images,
    processor,
    model,
    *,
    batch_size: int = 32,
    max_new_tokens: int = 20,
    prompt: str | None = None,
    progress: bool = True,
) -> list[str]:
    """Caption images with BLIP, greedily (the same images give the same captions).

    Args:
        images: a float tensor (B, C, H, W) with values in [0, 1] (not normalised: the processor
            normalises), or a list of PIL images.
        processor, model: from :func:`load_blip`.
        batch_size: images per ``generate`` call.
        max_new_tokens: the longest caption, in tokens.
        prompt: conditional captioning: the caption continues this text (and starts with it),
            e.g. ``"a photography of"``; None for unconditional captions.
        progress: show a tqdm bar over the batches.

    Returns:
        B captions, in the order of the images.
    """
    if isinstance(images, torch.Tensor):
        check_image_tensor(images)  # before any work: a bad batch fails at once, not at batch k
    device = next(model.parameters()).device
    captions = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="captions", disable=not progress, leave=False):
        inputs = blip_inputs(images[start : start + batch_size], processor, prompt=prompt)
        inputs = inputs.to(device)
        with torch.no_grad():
            ids = model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1
            )  # (b, L) token ids
        captions += processor.batch_decode(ids, skip_special_tokens=True)
    return [caption.strip() for caption in captions]


def check_image_tensor(images: torch.Tensor):
    """Raise a ValueError unless ``images`` is a (B, C, H, W) float tensor in [0, 1]."""
    if images.dim() != 4:
        raise ValueError(
            f"images must be a (B, C, H, W) tensor, got shape {tuple(images.shape)}; for one "
            "image use images[None]."
        )
    if not images.is_floating_point() or images.min() < 0 or images.max() > 1:
        raise ValueError(
            f"images must be floats in [0, 1] (got {images.dtype}, range "
            f"[{float(images.min()):.3g}, {float(images.max()):.3g}]). Pass the images before "
            "any Normalize transform: a captioner applies its own normalisation."
        )


__all__ = ["BLIP_NAME", "blip_inputs", "caption_images", "check_image_tensor", "load_blip"]

"""Words for pictures: BLIP captions, a caption cache on disk, CLIP text embeddings (lesson 10).

Lesson 10 gives an image classifier something to read. Each image gets a caption from BLIP
(Li et al. 2022, "Bootstrapping Language-Image Pre-training"), the caption becomes one vector
through CLIP's text encoder (Radford et al. 2021, the text half of Figure 3's
``T_e = l2_normalize(text_encoder(T) W_t)``), and the image tokens cross-attend to it
(:class:`minivision.models.CaptionConditionedClassifier`).

The pipeline, one function per step::

    processor, blip = load_blip()                               # Hugging Face transformers
    captions = cached_captions(dataset, captioner, "captions.json", model_name=...)  # list[str]
    clip, tokenizer = load_clip()                               # open_clip
    text = clip_text_embeddings(captions, clip, tokenizer)      # (N, E), unit rows

Captioning a whole dataset takes a while even on a GPU (one ``generate`` call per batch, one
token at a time), so the captions are written to a JSON file once, with partial progress saved
as it goes.

transformers and open_clip are optional (``pip install "minivision[multimodal]"``); they are
imported inside the functions that need them, so ``import minivision.multimodal`` is cheap.
Offline, with no model hub, ``make_tiny_blip`` and ``make_tiny_clip_config`` build tiny random
stand-ins that load through the same code paths (the tests and the lesson's quick mode use them).
"""
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from .training.utils import pick_device, tqdm

BLIP_NAME = "Salesforce/blip-image-captioning-base"
CACHE_FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# BLIP: images -> captions
# ---------------------------------------------------------------------------------------------


def load_blip(name_or_path: str | os.PathLike = BLIP_NAME, device=None):
    """A BLIP captioning model and its processor, in eval mode.

    Args:
        name_or_path: a model hub name (downloads once, then comes from the cache) or a local
            directory written by ``save_pretrained`` (for example by :func:`make_tiny_blip`).
        device: None picks CUDA, then MPS, then the CPU (:func:`minivision.training.pick_device`).

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
            "stand-in with minivision.multimodal.make_tiny_blip(directory)."
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
        _check_image_tensor(images)
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
        _check_image_tensor(images)  # before any work: a bad batch fails at once, not at batch k
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


def _check_image_tensor(images: torch.Tensor):
    if images.dim() != 4:
        raise ValueError(
            f"images must be a (B, C, H, W) tensor, got shape {tuple(images.shape)}; for one "
            "image use images[None]."
        )
    if not images.is_floating_point() or images.min() < 0 or images.max() > 1:
        raise ValueError(
            f"images must be floats in [0, 1] (got {images.dtype}, range "
            f"[{float(images.min()):.3g}, {float(images.max()):.3g}]). Pass the images before "
            "any Normalize transform: BLIP's processor applies its own normalisation."
        )


# ---------------------------------------------------------------------------------------------
# The caption cache: caption a dataset once, keep the captions in a JSON file
# ---------------------------------------------------------------------------------------------


class StaleCacheError(ValueError):
    """A caption file was written for another dataset or another captioning model."""


def cached_captions(
    dataset,
    captioner: Callable[[object], list[str]],
    path: str | os.PathLike,
    *,
    model_name: str,
    batch_size: int = 32,
    save_every: int = 10,
    progress: bool = True,
) -> list[str]:
    """The caption of every item of ``dataset``, computed once and stored in a JSON file.

    The first call captions the items and writes ``path``; later calls read it and never call
    the captioner. Partial progress is written every ``save_every`` batches, so a run that is
    interrupted (Colab disconnects, Ctrl-C) goes on from there the next time. Every write goes to
    a temporary file that is then renamed over ``path`` (``os.replace``), so the file on disk is
    always complete JSON.

    The file records a fingerprint, the dataset's length and ``model_name``; a file whose
    fingerprint differs raises :class:`StaleCacheError` rather than giving captions of other images.

    Args:
        dataset: items are ``(image, label)`` pairs or images; an image is a float tensor
            (C, H, W) in [0, 1] or a PIL image.
        captioner: images of one batch (a (b, C, H, W) tensor, or a list of PIL images) ->
            b captions. With BLIP: ``lambda x: caption_images(x, processor, model, progress=False)``.
        path: the JSON file, e.g. ``captions/cifar10_train_blip-base.json``.
        model_name: names the captioner in the fingerprint, e.g. ``"Salesforce/blip-image-captioning-base"``.
        batch_size: items per captioner call.
        save_every: write the file after this many batches (and at the end).
        progress: show a tqdm bar over the batches.

    Returns:
        ``len(dataset)`` captions, in index order.
    """
    path = Path(path)
    fingerprint = {"num_items": len(dataset), "model_name": model_name}
    captions = _read_caption_file(path, fingerprint)  # {index: caption}, empty for a new file
    todo = [i for i in range(len(dataset)) if i not in captions]
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    bar = tqdm(batches, desc="captioning", disable=not progress or not batches, leave=False)
    for step, indices in enumerate(bar, start=1):
        images = _collate_images([dataset[i] for i in indices])
        new = captioner(images)
        if len(new) != len(indices):
            raise ValueError(f"the captioner returned {len(new)} captions for {len(indices)} images.")
        captions.update(zip(indices, new))
        if step % save_every == 0:
            _write_caption_file(path, fingerprint, captions)
    if batches:
        _write_caption_file(path, fingerprint, captions)
    return [captions[i] for i in range(len(dataset))]


def _collate_images(items: list):
    """Dataset items -> what a captioner takes: a (b, C, H, W) tensor, or a list of PIL images."""
    images = [item[0] if isinstance(item, (tuple, list)) else item for item in items]
    if isinstance(images[0], torch.Tensor):
        return torch.stack(images)  # (b, C, H, W)
    return images


def _read_caption_file(path: Path, fingerprint: dict) -> dict[int, str]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("fingerprint") != fingerprint:
        raise StaleCacheError(
            f"{path} holds captions for {data.get('fingerprint')}, but this call is for "
            f"{fingerprint}. Delete the file to caption again, or pass another path."
        )
    return {int(index): caption for index, caption in data["captions"].items()}  # JSON keys are str


def _write_caption_file(path: Path, fingerprint: dict, captions: dict[int, str]):
    """Write the captions atomically: a temporary file in the same folder, then os.replace."""
    data = {
        "format_version": CACHE_FORMAT_VERSION,
        "fingerprint": fingerprint,
        "captions": {str(index): captions[index] for index in sorted(captions)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=0, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# CLIP: captions -> text embeddings
# ---------------------------------------------------------------------------------------------


def load_clip(model_name: str = "ViT-B-32", pretrained: str | None = "openai", device=None):
    """An open_clip CLIP model (eval mode) and its tokenizer.

    Args:
        model_name: an open_clip architecture (``open_clip.list_models()``), or one registered
            with ``open_clip.add_model_config`` (see :func:`make_tiny_clip_config`).
        pretrained: the weights' tag (``open_clip.list_pretrained()``); downloads once. None
            builds the architecture with random weights, offline.
        device: None picks CUDA, then MPS, then the CPU.

    Returns:
        ``(model, tokenizer)``; ``tokenizer(list_of_str)`` gives (N, context_length) token ids.
    """
    import open_clip

    try:
        model, _, _ = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    except (OSError, RuntimeError) as err:  # open_clip raises RuntimeError when a download fails
        raise RuntimeError(
            f"could not load CLIP {model_name!r} with pretrained={pretrained!r}: {err}\n"
            "Online (Colab) the weights download by themselves. Offline, use pretrained=None for "
            "random weights, or pass a local checkpoint file as pretrained."
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


# ---------------------------------------------------------------------------------------------
# Offline stand-ins: tiny random BLIP and CLIP that load through the same code paths
# ---------------------------------------------------------------------------------------------

# A small vocabulary that can describe the built-in shapes; the random stand-in strings its words
# together at random, which is all a test or a quick run needs from it.
TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "a", "an", "the", "of", "on", "with", "and", "photo", "picture", "shape",
    "small", "large", "light", "dark", "background", "red", "green", "blue", "white", "black",
    "circle", "square", "triangle", "cross", "ring", "star", "bar", "half", "disk", "frame", "tee",
]  # fmt: skip

TINY_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def make_tiny_blip(directory: str | os.PathLike, *, image_size: int = 32, seed: int = 0) -> Path:
    """Save a tiny random BLIP (processor and model) to ``directory``, for ``load_blip(directory)``.

    Two layers of width 32 in each tower and the 36-word ``TINY_VOCAB``: it builds and captions
    in milliseconds, and its captions are random words. The tokenizer is loaded from a
    ``vocab.txt`` with ``BertTokenizer.from_pretrained(directory)``, since transformers 5
    ignores ``BertTokenizer(vocab_file=...)``.

    Args:
        directory: created if needed.
        image_size: the processor resizes every image to this size.
        seed: the same seed gives the same weights.

    Returns:
        the directory, as a Path.
    """
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration,
                              BlipImageProcessor, BlipProcessor)

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer.from_pretrained(directory)
    image_processor = BlipImageProcessor(size={"height": image_size, "width": image_size})
    processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    width = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    config = BlipConfig(
        vision_config=dict(**width, image_size=image_size, patch_size=8),
        text_config=dict(
            **width,
            vocab_size=len(tokenizer),
            max_position_embeddings=64,
            # BLIP starts a caption with [CLS] as its BOS token and stops at [SEP]
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            sep_token_id=tokenizer.sep_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
    )
    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(config)
    processor.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory


def make_tiny_clip_config(directory: str | os.PathLike, name: str = "minivision-tiny-clip") -> str:
    """Register a tiny CLIP architecture with open_clip, for ``load_clip(name, pretrained=None)``.

    ``open_clip.add_model_config`` reads a JSON file whose stem becomes the model name, so this
    writes ``directory/name.json`` (``TINY_CLIP_CONFIG``: width 64, two layers per tower,
    embeddings of size 64, CLIP's real BPE tokenizer) and registers it.

    Returns:
        the model name to pass to :func:`load_clip`.
    """
    import open_clip

    path = Path(directory) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(TINY_CLIP_CONFIG, indent=2), encoding="utf-8")
    open_clip.add_model_config(path)
    return name


__all__ = [
    "BLIP_NAME",
    "StaleCacheError",
    "TINY_CLIP_CONFIG",
    "TINY_VOCAB",
    "blip_inputs",
    "cached_captions",
    "caption_images",
    "clip_text_embeddings",
    "load_blip",
    "load_clip",
    "make_tiny_blip",
    "make_tiny_clip_config",
]

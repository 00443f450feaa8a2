"""Offline stand-ins: tiny random BLIP and CLIP, saved to disk, that load through the same code
paths as the real models (:func:`minivision.text.load_blip`, :func:`minivision.text.load_clip`).

They have learned nothing: the tiny BLIP strings words of a 36-word vocabulary together and the
tiny CLIP maps text to arbitrary (but fixed) vectors. The tests use them, and so does lesson 10
wherever the hub cannot be reached. transformers and open_clip are imported inside the functions.
"""
import json
import os
from pathlib import Path

import torch

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
        the model name to pass to :func:`minivision.text.load_clip`.
    """
    import open_clip

    path = Path(directory) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(TINY_CLIP_CONFIG, indent=2), encoding="utf-8")
    open_clip.add_model_config(path)
    return name


def make_tiny_clip(directory: str | os.PathLike, *, seed: int = 0) -> Path:
    """Save a tiny random CLIP to ``directory`` as open_clip saves a model for the hub.

    The folder holds ``open_clip_config.json`` (``TINY_CLIP_CONFIG`` and the preprocessing) and
    ``open_clip_model.safetensors``: what ``hf-hub:`` repositories hold, so
    ``load_clip(f"local-dir:{directory}")`` reads it, and a copy in the Hugging Face cache stands
    in for a hub model. The tokenizer is CLIP's own byte-pair encoding, shipped with open_clip.

    Args:
        directory: created if needed.
        seed: the same seed gives the same weights.

    Returns:
        the directory, as a Path.
    """
    import open_clip
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    preprocess = {"mean": list(open_clip.OPENAI_DATASET_MEAN),
                  "std": list(open_clip.OPENAI_DATASET_STD)}
    config = {"model_cfg": TINY_CLIP_CONFIG, "preprocess_cfg": preprocess}
    (directory / "open_clip_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    state_dict = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state_dict, directory / "open_clip_model.safetensors")
    return directory


__all__ = ["TINY_CLIP_CONFIG", "TINY_VOCAB", "make_tiny_blip", "make_tiny_clip",
           "make_tiny_clip_config"]

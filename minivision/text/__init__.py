"""Words for pictures (lesson 10): captions, a caption cache, CLIP text embeddings, leakage.

Lesson 10 gives an image classifier something to read. Each image gets a caption from BLIP
(Li et al. 2022), the caption becomes one vector through CLIP's text encoder (Radford et al.
2021), and the image tokens cross-attend to it
(:class:`minivision.models.CaptionConditionedClassifier`).
One module per step::

    captioning        load_blip, blip_inputs, caption_images     images -> captions (BLIP)
    pixel_captions    describe_images                            images -> captions, offline
    caption_cache     cached_captions, StaleCacheError           caption a dataset once
    text_embeddings   load_clip, clip_text_embeddings            captions -> (N, E) (CLIP)
    leakage           leak_report, names_class, CIFAR10_SYNONYMS do the captions name the class?
    offline_models    make_tiny_blip, make_tiny_clip, ...        tiny random stand-ins on disk

The pipeline::

    processor, blip = load_blip()                               # Hugging Face transformers
    captions = cached_captions(dataset, captioner, "captions.json", model_name=...)  # list[str]
    clip, tokenizer = load_clip()                               # open_clip
    text = clip_text_embeddings(captions, clip, tokenizer)      # (N, E), unit rows

transformers and open_clip are optional (``pip install "minivision[multimodal]"``); they are
imported inside the functions that need them, so ``import minivision.text`` is cheap.
"""
from .caption_cache import StaleCacheError, cached_captions
from .captioning import BLIP_NAME, blip_inputs, caption_images, load_blip
from .leakage import CIFAR10_SYNONYMS, LeakReport, leak_report, names_class
from .offline_models import (TINY_CLIP_CONFIG, TINY_VOCAB, make_tiny_blip, make_tiny_clip,
                             make_tiny_clip_config)
from .pixel_captions import COLOUR_NAMES, describe_images
from .text_embeddings import CLIP_NAME, clip_text_embeddings, load_clip

__all__ = [
    "BLIP_NAME", "CIFAR10_SYNONYMS", "CLIP_NAME", "COLOUR_NAMES", "LeakReport", "StaleCacheError",
    "TINY_CLIP_CONFIG", "TINY_VOCAB", "blip_inputs", "cached_captions", "caption_images",
    "clip_text_embeddings", "describe_images", "leak_report", "load_blip", "load_clip",
    "make_tiny_blip", "make_tiny_clip", "make_tiny_clip_config", "names_class",
]

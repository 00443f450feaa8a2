"""The caption cache: caption a dataset once, keep the captions in a JSON file.

Captioning a whole dataset takes a while even on a GPU (BLIP's ``generate`` runs once per token,
for every batch), so lesson 10 writes the captions to disk once, with partial progress saved as it
goes, and reads the file afterwards. The file carries a fingerprint (the dataset's length and the
captioner's name), so captions of other images or of another captioner are never returned.
"""
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from ..runtime import tqdm

CACHE_FORMAT_VERSION = 1


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
            b captions. With BLIP:
            ``lambda x: caption_images(x, processor, model, progress=False)``.
        path: the JSON file, e.g. ``captions/cifar10_train_blip-base.json``.
        model_name: names the captioner in the fingerprint, e.g.
            ``"Salesforce/blip-image-captioning-base"``.
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
            raise ValueError(
                f"the captioner returned {len(new)} captions for {len(indices)} images."
            )
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


__all__ = ["StaleCacheError", "cached_captions"]

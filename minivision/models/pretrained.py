"""Pretrained weights for ``minivision train --pretrained SPEC``: a torchvision, timm or Hugging
Face ViT, by name or from a local path, as our :class:`~minivision.models.VisionTransformer`.

What SPEC may be (an existing path first, then a prefix):

    torchvision:vit_b_16[:WEIGHTS]   torchvision's weights (WEIGHTS defaults to DEFAULT, which is
                                     IMAGENET1K_V1), read from torch's hub cache or downloaded there
    timm:vit_base_patch16_224        timm's pretrained weights, through the Hugging Face hub cache
    hf:google/vit-base-patch16-224   a transformers ViT from the Hugging Face hub (or its cache)
    a folder                         config.json with "model_type": written by transformers'
                                     save_pretrained; with "architecture": timm's save_for_hf (or a
                                     timm repository downloaded from the hub)
    a file                           the state dict of a torchvision ViT, saved by
                                     torch.save(model.state_dict()) (.pth, .pt, .bin; also inside
                                     {"state_dict": ...} or {"model": ...}) or as .safetensors

A state dict holds every shape but one: not the number of attention heads. So a file's architecture
is the torchvision ViT builder (vit_b_16 ... vit_h_14) whose patch size, width, depth and MLP width
match its tensors, and its image size is the one its position embeddings are for. A timm or Hugging
Face state dict alone is refused: their folders carry the config.json that says the rest.

The tensors are converted by the free loaders (:func:`~minivision.load_torchvision`,
:func:`~minivision.load_timm`, :func:`~minivision.load_hf`), and the head is always a new one for
the dataset's classes: the source's head (ImageNet's 1,000 classes, say) means nothing there. The
images must look like those the weights learned from: resized to the model's image size, and
normalised with the mean and std of the weights when the source states them (the transforms of
torchvision's weights, timm's ``pretrained_cfg``, HF's ``preprocessor_config.json``), else with
the dataset's own.
"""
import json
import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torchvision.transforms import v2

from ..data import dataset_info
from ..data.transforms import _augmentation
from .vit import ViTConfig, VisionTransformer
from .vit_import import load_hf, load_timm, load_torchvision

PREFIXES = ("torchvision", "timm", "hf")
USAGE = "torchvision:NAME[:WEIGHTS], timm:NAME, hf:ORG/NAME or a local path"
EXAMPLES = {"torchvision": "torchvision:vit_b_16", "timm": "timm:vit_base_patch16_224",
            "hf": "hf:google/vit-base-patch16-224"}
# The patch-embedding weight that tells whose layout a state dict is in.
LAYOUT_KEYS = {
    "torchvision": ("conv_proj.weight",),
    "minivision": ("embeddings.patch_embed.proj.weight",),
    "timm": ("patch_embed.proj.weight",),
    "hf": ("embeddings.patch_embeddings.projection.weight",
           "vit.embeddings.patch_embeddings.projection.weight"),
}
REFUSED_LAYOUTS = {
    "timm": "a timm state dict, which does not say its architecture (heads, tokens, ...): pass "
            "the folder timm's save_for_hf writes (config.json beside the weights), or timm:NAME",
    "hf": "a Hugging Face ViT state dict without its config.json: pass the folder that "
          "save_pretrained writes",
    "minivision": "the weights of a minivision VisionTransformer (a `minivision train` "
                  "checkpoint?): continue that run with --resume; --pretrained reads torchvision, "
                  "timm and Hugging Face weights",
}


class PretrainedError(ValueError):
    """The weights that --pretrained names cannot be had or converted; one line says the fix."""


@dataclass
class Pretrained:
    """A pretrained ViT with a new head, and what its input images must look like.

    Attributes:
        model: our VisionTransformer: images (B, C, S, S) -> logits (B, num_classes), with
            S = ``model.config.image_size``.
        spec: the --pretrained text.
        source: "torchvision", "timm" or "hf": whose layout the tensors came in.
        weights: where they were read: a weights or hub name, or a path.
        mean, std: the per-channel statistics the weights expect; None where the source does
            not state them (then the dataset's are used).
        stats_from: where mean and std come from (for the log line).
    """

    model: VisionTransformer
    spec: str
    source: str
    weights: str
    mean: tuple | None = None
    std: tuple | None = None
    stats_from: str = "the source does not state its statistics"

    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    def statistics(self, dataset: str) -> tuple[tuple, tuple]:
        """(mean, std) to normalise with: the weights', else the dataset's."""
        if self.mean is not None:
            return self.mean, self.std
        info = dataset_info(dataset)
        return info.mean, info.std

    def transforms(self, dataset: str, *, train: bool, augmentation: str = "standard"):
        """The dataset's pipeline for this model (see :func:`finetune_transforms`)."""
        mean, std = self.statistics(dataset)
        return finetune_transforms(dataset, train=train, augmentation=augmentation,
                                   image_size=self.image_size, mean=mean, std=std)

    def describe(self, dataset: str) -> list[str]:
        """What was loaded and how the images are prepared: lines for the CLI's log."""
        c, info = self.model.config, dataset_info(dataset)
        grid = self.model.patch_grid((self.image_size, self.image_size))
        mean, std = self.statistics(dataset)
        stats = (f"the weights' ({self.stats_from})" if self.mean is not None
                 else f"{dataset}'s own ({self.stats_from})")
        return [
            f"pretrained: {self.spec} ({self.source} weights {self.weights}): D={c.embed_dim}, "
            f"depth {c.depth}, {c.num_heads} heads, patch {c.patch_size}; a new head for "
            f"{dataset}'s {c.num_classes} classes",
            f"images: {dataset}'s {info.image_size}x{info.image_size} "
            f"{'resized to' if self.image_size != info.image_size else 'kept at'} "
            f"{self.image_size}x{self.image_size}, the model's size ({grid[0]}x{grid[1]} patches)",
            f"normalisation: {stats}: mean {_rounded(mean)}, std {_rounded(std)}",
        ]

    def record(self) -> dict:
        """Plain values for config.json: what --resume needs to rebuild the model offline."""
        return {"spec": self.spec, "source": self.source, "weights": self.weights,
                "vit_config": self.model.config.to_dict(),
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std),
                "stats_from": self.stats_from}

    @classmethod
    def from_record(cls, record: dict) -> "Pretrained":
        """The recorded run's model, randomly initialised: a resume loads its checkpoint into it,
        so the pretrained weights are not read again."""
        model = VisionTransformer(ViTConfig(**record["vit_config"]))
        mean, std = record.get("mean"), record.get("std")
        return cls(model, record["spec"], record["source"], record["weights"],
                   None if mean is None else tuple(mean), None if std is None else tuple(std),
                   record.get("stats_from", ""))


def _rounded(values) -> tuple:
    return tuple(round(float(v), 4) for v in values)


def finetune_transforms(dataset: str, *, train: bool, augmentation: str, image_size: int, mean,
                        std) -> v2.Compose:
    """The dataset's usual pipeline, for a pretrained model: (the dataset's augmentation, at its
    own size) -> resize to ``image_size`` -> float in [0, 1] -> Normalize(mean, std).

    Returns:
        a ``v2.Compose``: PIL image or uint8 tensor -> float tensor (C, image_size, image_size).
    """
    info = dataset_info(dataset)
    steps = [v2.ToImage()]  # (C, H, W) uint8
    if train and augmentation == "standard":
        steps += _augmentation(dataset, info.image_size)  # crop / flips at the stored size
    if image_size != info.image_size:
        steps.append(v2.Resize((image_size, image_size), antialias=True))  # (C, S, S)
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std)),
              v2.ToPureTensor()]
    return v2.Compose(steps)


def parse_spec(spec: str) -> tuple[str, str]:
    """``"timm:vit_base_patch16_224"`` -> ``("timm", "vit_base_patch16_224")``; an existing path
    -> ``("path", path)``. A PretrainedError for an unknown prefix or a missing path."""
    path = os.path.expanduser(spec)
    if spec and os.path.exists(path):
        return "path", path
    prefix, colon, name = spec.partition(":")
    if colon and prefix in PREFIXES:
        if not name:
            raise PretrainedError(f"--pretrained {spec}: no name after {prefix}:, e.g. "
                                  f"{EXAMPLES[prefix]}.")
        return prefix, name
    if colon and len(prefix) > 1 and not {"/", "\\"} & set(prefix):  # C:\... is a Windows path
        raise PretrainedError(f"--pretrained {spec}: unknown prefix {prefix!r}; use {USAGE}.")
    raise PretrainedError(f"--pretrained {spec}: no such file or folder; for weights by name use "
                          f"{USAGE}.")


def load_pretrained(spec: str, *, num_classes: int) -> Pretrained:
    """The model SPEC names (see the module docstring), with a new head of ``num_classes``.

    Raises:
        PretrainedError: one line naming the problem and the fix (no network and not cached,
            an unknown prefix, a file that is not a checkpoint, an architecture the loaders do
            not convert, a missing package).
    """
    kind, name = parse_spec(spec)
    read = {"torchvision": _from_torchvision, "timm": _from_timm, "hf": _from_hf,
            "path": _from_path}[kind]
    try:
        pretrained = read(name)
    except ImportError as err:  # timm, huggingface_hub or safetensors: optional packages
        raise PretrainedError(f"--pretrained {spec} needs the package {err.name}: pip install "
                              f"{err.name}.") from err
    except (ValueError, OSError, RuntimeError) as err:  # a loader's refusal: not convertible
        raise PretrainedError(f"--pretrained {spec}: {_one_line(err)}") from err
    pretrained.spec = spec
    pretrained.model.reset_classifier(num_classes)  # always new: the source's classes are others
    return pretrained


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


# --- by name -------------------------------------------------------------------------------------
def torchvision_vit_names() -> list[str]:
    """torchvision's ViT builders (vit_b_16, ..., vit_h_14): what load_torchvision converts."""
    module = torchvision.models.vision_transformer.__name__
    return [name for name in torchvision.models.list_models(module=torchvision.models)
            if torchvision.models.get_model_builder(name).__module__ == module]


def _torchvision_weights(name: str, weights_name: str):
    """The weights enum member ``name``'s ``weights_name`` (DEFAULT: the recommended ones)."""
    vits = torchvision_vit_names()
    if name not in vits:
        what = "is not a VisionTransformer" if name in torchvision.models.list_models() \
            else "is not a torchvision model"
        raise PretrainedError(f"{name} {what}, so minivision cannot convert it; choose one of "
                              f"{', '.join(vits)}.")
    members = torchvision.models.get_model_weights(name).__members__  # DEFAULT is an alias
    if weights_name not in members:
        raise PretrainedError(f"torchvision's {name} has no weights {weights_name!r}; choose one "
                              f"of {', '.join(members)}.")
    return members[weights_name]


def _from_torchvision(name_and_weights: str) -> Pretrained:
    name, _, weights_name = name_and_weights.partition(":")
    weights = _torchvision_weights(name, weights_name or "DEFAULT")
    try:
        model = torchvision.models.get_model(name, weights=weights)
    except OSError as err:  # urllib's URLError: no network, and the file is not in the cache
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
        raise PretrainedError(
            f"cannot download torchvision weights {name} ({weights.name}; no network? "
            f"{_one_line(err)}): put the file at {cached} or pass a local path (--pretrained "
            f"FILE)") from err
    transform = weights.transforms()
    return Pretrained(load_torchvision(model), "", "torchvision", f"{name}:{weights.name}",
                      tuple(transform.mean), tuple(transform.std), f"torchvision's {weights}")


def _hub_cache() -> str:
    try:
        from huggingface_hub import constants
    except ImportError:
        return "~/.cache/huggingface/hub"
    return str(constants.HF_HUB_CACHE)


def _from_timm(name: str, *, weights: str | None = None) -> Pretrained:
    import timm

    try:
        model = timm.create_model(name, pretrained=True)
    except OSError as err:  # offline and not in the hub cache (the hub's errors are OSErrors)
        raise PretrainedError(
            f"cannot download timm weights {name} (no network? {type(err).__name__}): put them "
            f"in the Hugging Face hub cache ({_hub_cache()}) or pass a local folder written by "
            f"timm's save_for_hf") from err
    except RuntimeError as err:  # "Unknown model (...)", or a tag without pretrained weights
        raise PretrainedError(f"timm cannot create {name!r} with pretrained weights "
                              f"({_one_line(err)}); see timm.list_pretrained('vit_*').") from err
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = cfg.get("mean"), cfg.get("std")
    stats_from = "timm's pretrained_cfg" if mean is not None else "timm states none"
    return Pretrained(load_timm(model), "", "timm", weights or name,
                      None if mean is None else tuple(mean), None if std is None else tuple(std),
                      stats_from)


def _from_hf(name: str) -> Pretrained:
    try:
        model = load_hf(name)
    except OSError as err:  # offline and not cached, or no such repository
        raise PretrainedError(
            f"cannot download Hugging Face weights {name} (no network, or no such repository?): "
            f"put them in the hub cache ({_hub_cache()}) or pass a local folder written by "
            f"save_pretrained") from err
    return _hf_pretrained(model, name, _hub_file(name, "preprocessor_config.json"))


def _hub_file(repo: str, filename: str) -> Path | None:
    """A small file of a hub repository (cached or downloaded), or None where there is none."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo, filename))
    except Exception:  # offline, not cached, not in the repository: the caller falls back
        return None


def _hf_pretrained(model: VisionTransformer, weights: str, processor: Path | None) -> Pretrained:
    """HF's image processor states the statistics (do_normalize, image_mean, image_std)."""
    try:
        settings = json.loads(processor.read_text()) if processor and processor.is_file() else {}
    except (OSError, ValueError):
        settings = {}
    if settings.get("do_normalize", True) and "image_mean" in settings:
        return Pretrained(model, "", "hf", weights, tuple(settings["image_mean"]),
                          tuple(settings["image_std"]), "preprocessor_config.json")
    return Pretrained(model, "", "hf", weights, stats_from="no preprocessor_config.json")


# --- from a local path ---------------------------------------------------------------------------
def _from_path(path: str) -> Pretrained:
    path = Path(path)
    if path.is_dir():
        return _from_folder(path)
    state_dict = read_state_dict(path)
    layout = state_dict_layout(state_dict)
    if layout in REFUSED_LAYOUTS:
        raise PretrainedError(f"{path} holds {REFUSED_LAYOUTS[layout]}.")
    if layout is None:
        raise PretrainedError(
            f"{path} holds no ViT patch embedding (conv_proj.weight, patch_embed.proj.weight, "
            f"...; its keys begin {sorted(state_dict)[:3]}): not a ViT, or an architecture "
            f"minivision does not convert.")
    model = load_torchvision(torchvision_from_state_dict(state_dict, path))
    weights = _torchvision_weights_of_file(path.name)
    if weights is None:
        return Pretrained(model, "", "torchvision", str(path),
                          stats_from="a file does not state them")
    transform = weights.transforms()
    return Pretrained(model, "", "torchvision", str(path), tuple(transform.mean),
                      tuple(transform.std), f"torchvision's {weights}: the file's name is its")


def _from_folder(folder: Path) -> Pretrained:
    """A save_pretrained folder (transformers) or a save_for_hf folder (timm)."""
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as err:
        raise PretrainedError(
            f"{config_file} is missing or not JSON ({type(err).__name__}): pass a folder written "
            f"by save_pretrained (transformers) or save_for_hf (timm), or a state-dict file.")
    if isinstance(config, dict) and "architecture" in config:  # timm's layout
        return _from_timm(f"local-dir:{folder}", weights=str(folder))
    if isinstance(config, dict) and "model_type" in config:  # transformers' layout
        return _hf_pretrained(load_hf(folder), str(folder), folder / "preprocessor_config.json")
    raise PretrainedError(f"{config_file} has neither 'model_type' (transformers) nor "
                          f"'architecture' (timm): not a model folder minivision reads.")


def read_state_dict(path: Path) -> dict:
    """A checkpoint file -> its tensors, unwrapped from ``{"state_dict": ...}`` or ``{"model":
    ...}`` (timm's and minivision's training checkpoints). Nothing in it can run code."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(path)
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refuses a class, or it is no pickle
        if "Unsupported global" in str(err):
            raise PretrainedError(
                f"{path} holds Python objects besides tensors (a whole pickled model, or a "
                f"training checkpoint with its arguments): loading it could run code; save "
                f"model.state_dict() instead.") from err
        raise _not_a_checkpoint(path, err) from err
    except ImportError:
        raise
    except Exception as err:  # a cut zip (RuntimeError), EOFError, safetensors' own error type
        raise _not_a_checkpoint(path, err) from err
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise PretrainedError(f"{path} is a {type(data).__name__}, not a state dict (names -> "
                              f"tensors): save model.state_dict().")
    return data


def _not_a_checkpoint(path: Path, err: Exception) -> PretrainedError:
    return PretrainedError(
        f"{path} is not a checkpoint that torch.load or safetensors can read "
        f"({type(err).__name__}: {_one_line(err)[:120]}): pass a file saved by "
        f"torch.save(model.state_dict()), or a folder written by save_pretrained.")


def state_dict_layout(state_dict: dict) -> str | None:
    """"torchvision", "timm", "hf", "minivision" or None, from the patch embedding's name."""
    for layout, keys in LAYOUT_KEYS.items():
        if any(key in state_dict for key in keys):
            return layout
    return None


def torchvision_from_state_dict(state_dict: dict, path: Path) -> torch.nn.Module:
    """A torchvision VisionTransformer holding ``state_dict`` (loaded strictly).

    Every size comes from the tensors; the number of heads from the torchvision builder with the
    same shapes (:func:`torchvision_heads`).
    """
    proj = state_dict["conv_proj.weight"]  # (D, C, P, P)
    hidden_dim, patch_size = proj.shape[0], proj.shape[-1]
    num_layers = sum(key.endswith(".ln_1.weight") for key in state_dict)
    try:
        mlp_dim = state_dict["encoder.layers.encoder_layer_0.mlp.0.weight"].shape[0]
        tokens = state_dict["encoder.pos_embedding"].shape[1] - 1  # (1, 1 + g*g, D)
    except KeyError as err:
        raise PretrainedError(f"{path} is a torchvision state dict without {err}: incomplete, "
                              f"or another architecture.") from err
    grid = math.isqrt(tokens)
    heads = torchvision_heads(patch_size, hidden_dim, num_layers, mlp_dim, path)
    head = state_dict.get("heads.head.weight")  # (num_classes, D)
    pre_logits = state_dict.get("heads.pre_logits.weight")  # load_torchvision refuses these
    model = torchvision.models.VisionTransformer(
        image_size=grid * patch_size, patch_size=patch_size, num_layers=num_layers,
        num_heads=heads, hidden_dim=hidden_dim, mlp_dim=mlp_dim,
        num_classes=1000 if head is None else head.shape[0],
        representation_size=None if pre_logits is None else pre_logits.shape[0])
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as err:
        raise PretrainedError(f"{path}'s tensors do not fit a torchvision ViT: "
                              f"{_one_line(err)[:300]}") from err
    return model


def torchvision_heads(patch_size: int, hidden_dim: int, num_layers: int, mlp_dim: int,
                      path: Path) -> int:
    """The number of heads of the torchvision ViT builder with these shapes (built on the meta
    device: shapes only, no memory)."""
    for name in torchvision_vit_names():
        with torch.device("meta"):
            model = torchvision.models.get_model(name)
        if (model.patch_size, model.hidden_dim, len(model.encoder.layers), model.mlp_dim) == \
                (patch_size, hidden_dim, num_layers, mlp_dim):
            return model.encoder.layers[0].self_attention.num_heads
    raise PretrainedError(
        f"{path}'s tensors (patch {patch_size}, width {hidden_dim}, depth {num_layers}, MLP "
        f"{mlp_dim}) match none of torchvision's ViTs ({', '.join(torchvision_vit_names())}), "
        f"and a state dict does not say its number of heads: save the model as a folder "
        f"(save_pretrained, or timm's save_for_hf) instead.")


def _torchvision_weights_of_file(filename: str):
    """torchvision's weights whose download has this file name (vit_b_16-c867db91.pth), or None."""
    for name in torchvision_vit_names():
        for weights in torchvision.models.get_model_weights(name):
            if os.path.basename(weights.url) == filename:
                return weights
    return None


__all__ = ["Pretrained", "PretrainedError", "finetune_transforms", "load_pretrained",
           "parse_spec", "read_state_dict", "state_dict_layout", "torchvision_from_state_dict"]

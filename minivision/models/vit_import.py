"""Weight importers: Hugging Face transformers, timm and torchvision ViTs -> our :class:`VisionTransformer`.

All three libraries implement the network of ViT (Dosovitskiy et al. 2021): embeddings (eq. 1), pre-norm
blocks (eqs. 2-3), a final LayerNorm and a linear head on the [CLS] token (eq. 4). Only the names differ,
so each importer is a key table (our name -> theirs, per module; ``.weight`` / ``.bias`` carry over), plus
two tensor surgeries:

* HF keeps W_q, W_k, W_v as three Linear layers; ours is one ``attn.qkv`` with the three stacked along
  the output axis (q; k; v, the order of timm and of torchvision's ``in_proj_weight``): concatenate.
* A new ``image_size`` gives a new patch grid, so the position embeddings are resampled by
  :func:`minivision.layers.resample_pos_embed` (ViT section 3.2), the same function for every source.

Outside the blocks (HF's ViTForImageClassification puts ``vit.`` before all but ``classifier``):

    ours                          timm               torchvision              HF
    embeddings.cls_token          cls_token          class_token              embeddings.cls_token
    embeddings.pos_embed          pos_embed          encoder.pos_embedding    embeddings.position_embeddings
    embeddings.patch_embed.proj   patch_embed.proj   conv_proj                embeddings.patch_embeddings.projection
    encoder.norm                  norm               encoder.ln               layernorm
    head                          head               heads.head               classifier

Inside block i (ours ``encoder.blocks.{i}.``; timm ``blocks.{i}.``; torchvision ``encoder.layers.encoder_layer_{i}.``;
HF 5.x in memory ``layers.{i}.``; HF files from ``save_pretrained`` and the hub ``encoder.layer.{i}.``):

    ours       timm       torchvision                 HF 5.x in memory        HF on disk
    norm1      norm1      ln_1                        layernorm_before        layernorm_before
    attn.qkv   attn.qkv   self_attention.in_proj_*    attention.{q,k,v}_proj  attention.attention.{query,key,value}
    attn.proj  attn.proj  self_attention.out_proj     attention.o_proj        attention.output.dense
    norm2      norm2      ln_2                        layernorm_after         layernorm_after
    mlp.fc1    mlp.fc1    mlp.0                       mlp.fc1                 intermediate.dense
    mlp.fc2    mlp.fc2    mlp.3                       mlp.fc2                 output.dense

Every source key is used or listed in ``IGNORED_KEYS``, every one of our keys is filled and every shape
is checked before anything is copied (nanoGPT's ``from_pretrained`` rule). The imported model expects the
source's input preprocessing (e.g. mean = std = 0.5 for google/vit-*, ImageNet statistics for torchvision).
"""
import json
import os
import re
from dataclasses import fields
from glob import glob

import torch
import torchvision
from torch import nn

from ..layers import resample_pos_embed
from .vit import ViTConfig, VisionTransformer

# Our key -> the source's: the longest prefix of our key found in the table is replaced, so a rule for a
# module carries its .weight / .bias (and, for timm, everything inside a block) over.
TIMM_KEYS = {  # inside a block, our names are timm's
    "embeddings.cls_token": "cls_token",
    "embeddings.pos_embed": "pos_embed",
    "embeddings.patch_embed.proj": "patch_embed.proj",
    "encoder.blocks.{i}": "blocks.{i}",
    "encoder.norm": "norm",
    "head": "head",
}
_TV = "encoder.layers.encoder_layer_{i}."
TORCHVISION_KEYS = {
    "embeddings.cls_token": "class_token",
    "embeddings.pos_embed": "encoder.pos_embedding",
    "embeddings.patch_embed.proj": "conv_proj",
    "encoder.blocks.{i}.norm1": _TV + "ln_1",
    "encoder.blocks.{i}.attn.qkv.weight": _TV + "self_attention.in_proj_weight",  # already q; k; v
    "encoder.blocks.{i}.attn.qkv.bias": _TV + "self_attention.in_proj_bias",
    "encoder.blocks.{i}.attn.proj": _TV + "self_attention.out_proj",
    "encoder.blocks.{i}.norm2": _TV + "ln_2",
    "encoder.blocks.{i}.mlp.fc1": _TV + "mlp.0",  # mlp.1 is the GELU, mlp.2 a dropout
    "encoder.blocks.{i}.mlp.fc2": _TV + "mlp.3",
    "encoder.norm": "encoder.ln",
    "head": "heads.head",
}
_HF_COMMON = {
    "embeddings.cls_token": "embeddings.cls_token",
    "embeddings.pos_embed": "embeddings.position_embeddings",
    "embeddings.patch_embed.proj": "embeddings.patch_embeddings.projection",
    "encoder.norm": "layernorm",
    "head": "classifier",
}
HF_KEYS = {  # transformers 5.x module names (``model.state_dict()``)
    **_HF_COMMON,
    "encoder.blocks.{i}.norm1": "layers.{i}.layernorm_before",
    "encoder.blocks.{i}.attn.qkv": (  # three tensors, concatenated
        "layers.{i}.attention.q_proj", "layers.{i}.attention.k_proj", "layers.{i}.attention.v_proj"
    ),
    "encoder.blocks.{i}.attn.proj": "layers.{i}.attention.o_proj",
    "encoder.blocks.{i}.norm2": "layers.{i}.layernorm_after",
    "encoder.blocks.{i}.mlp.fc1": "layers.{i}.mlp.fc1",
    "encoder.blocks.{i}.mlp.fc2": "layers.{i}.mlp.fc2",
}
_HF_DISK = "encoder.layer.{i}."
HF_DISK_KEYS = {  # the checkpoint files (save_pretrained, the hub) keep the transformers 4.x names
    **_HF_COMMON,
    "encoder.blocks.{i}.norm1": _HF_DISK + "layernorm_before",
    "encoder.blocks.{i}.attn.qkv": (
        _HF_DISK + "attention.attention.query",
        _HF_DISK + "attention.attention.key",
        _HF_DISK + "attention.attention.value",
    ),
    "encoder.blocks.{i}.attn.proj": _HF_DISK + "attention.output.dense",
    "encoder.blocks.{i}.norm2": _HF_DISK + "layernorm_after",
    "encoder.blocks.{i}.mlp.fc1": _HF_DISK + "intermediate.dense",
    "encoder.blocks.{i}.mlp.fc2": _HF_DISK + "output.dense",
}
# Source tensors that are not part of ViT classification, skipped on purpose.
IGNORED_KEYS = {
    "timm": (),
    "torchvision": (),
    # ViTModel's pooler (dense + tanh on [CLS]) is BERT's, unused by ViTForImageClassification;
    # the mask token exists only for masked-image modelling (ViTModel(use_mask_token=True)).
    "hf": ("pooler.dense.weight", "pooler.dense.bias", "embeddings.mask_token"),
}
_TABLES = {"timm": TIMM_KEYS, "torchvision": TORCHVISION_KEYS, "hf": HF_KEYS, "hf_disk": HF_DISK_KEYS}
_BLOCK = re.compile(r"^encoder\.blocks\.(\d+)\.")
# ViTConfig fields read from the checkpoint: another value would not fit its tensors.
_FROM_CHECKPOINT = {"patch_size", "in_channels", "embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias", "pool"}


def convert_state_dict(state_dict: dict, config: ViTConfig, *, source: str) -> dict:
    """Rename (and, for HF, concatenate) a source checkpoint's tensors to our key names, strictly.

    Args:
        state_dict: the source's tensors under the source's names.
        config: the configuration the checkpoint was made for (its own image size and classes).
        source: ``"timm"``, ``"torchvision"`` or ``"hf"`` (either HF layout; found from the keys).

    Returns:
        a state dict for ``VisionTransformer(config)``; a ValueError names the missing and unexpected
        source keys and the wrong shapes.
    """
    if source not in IGNORED_KEYS:
        raise ValueError(f"source must be one of {sorted(IGNORED_KEYS)}, got {source!r}.")
    ignored = set(IGNORED_KEYS[source])
    if source == "hf":  # ViTForImageClassification nests the ViTModel under "vit."
        state_dict = {k.removeprefix("vit."): v for k, v in state_dict.items()}
        source = "hf_disk" if any(k.startswith("encoder.layer.") for k in state_dict) else "hf"
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        expected = VisionTransformer(config).state_dict()
    out, used, missing, bad_shapes = {}, set(), [], []
    for key, target in expected.items():
        names = _source_names(key, _TABLES[source])
        part_shape = (target.shape[0] // len(names), *target.shape[1:])  # q, k, v: a third of qkv each
        for name in names:
            if name not in state_dict:
                missing.append(name)
            elif state_dict[name].shape != part_shape:
                bad_shapes.append(f"{name}: {tuple(state_dict[name].shape)}, expected {part_shape} (our {key})")
        if all(name in state_dict for name in names):
            out[key] = torch.cat([state_dict[name] for name in names]) if len(names) > 1 else state_dict[names[0]]
        used.update(names)
    unexpected = sorted(set(state_dict) - used - ignored)
    if missing or unexpected or bad_shapes:
        raise ValueError(_mismatch_message(source, missing, unexpected, bad_shapes))
    return out


def _source_names(key: str, table: dict) -> tuple[str, ...]:
    """Our key -> the source key(s) it is made of: 'encoder.blocks.3.norm1.bias' -> ('blocks.3.norm1.bias',)."""
    block = _BLOCK.match(key)
    pattern = _BLOCK.sub("encoder.blocks.{i}.", key)  # the table is written for any block i
    parts = pattern.split(".")
    for n in range(len(parts), 0, -1):  # the longest prefix with a rule wins
        prefix = ".".join(parts[:n])
        if prefix in table:
            break
    names = table[prefix]
    names = (names,) if isinstance(names, str) else names  # a tuple: q, k, v to concatenate
    return tuple((name + pattern[len(prefix):]).format(i=block[1] if block else None) for name in names)


def _mismatch_message(source: str, missing: list, unexpected: list, bad_shapes: list) -> str:
    lines = [f"the {source} checkpoint does not fit a minivision VisionTransformer of the config built from it"
             + (" (HF keys without the 'vit.' prefix):" if source.startswith("hf") else ":")]
    if missing:
        lines.append(f"- missing source keys ({len(missing)}): {missing[:5]}. The checkpoint is incomplete or of "
                     f"another architecture: pass the complete state dict of a plain ViT.")
    if unexpected:
        lines.append(f"- unexpected source keys ({len(unexpected)}): {unexpected[:5]}. These are parts our ViT lacks "
                     f"(register tokens, layer scale, ...): a different model, or keys to add to IGNORED_KEYS.")
    if bad_shapes:
        lines.append(f"- wrong shapes ({len(bad_shapes)}): {bad_shapes[:5]}. Build the config from the model the "
                     f"weights came from (for a new image size pass image_size=...: positions are resampled).")
    return "\n".join(lines)


def _build_model(config: ViTConfig, state_dict: dict, image_size, num_classes, overrides: dict) -> VisionTransformer:
    """Our model for ``config`` with a new image size, head or other overrides; ``state_dict`` loaded strictly."""
    settable = {f.name for f in fields(ViTConfig)} - _FROM_CHECKPOINT - {"image_size", "num_classes"}
    if overrides.keys() - settable:
        raise ValueError(f"cannot override {sorted(overrides.keys() - settable)}: shapes come from the checkpoint "
                         f"(pass image_size= and num_classes= as arguments); these can be set: {sorted(settable)}.")
    if image_size is not None and image_size != config.image_size:
        if image_size % config.patch_size:
            raise ValueError(f"image_size={image_size} is not divisible by the checkpoint's patch_size="
                             f"{config.patch_size}: choose a multiple of {config.patch_size}.")
        num_prefix_tokens = 1 if config.pool == "cls" else 0
        new_grid = image_size // config.patch_size
        pos_embed = state_dict["embeddings.pos_embed"]  # (1, P + g*g, D)
        pos_embed = resample_pos_embed(pos_embed, new_grid, num_prefix_tokens)  # (1, P + g'*g', D)
        state_dict["embeddings.pos_embed"] = pos_embed
        config = config.replace(image_size=image_size)
    fresh_head = num_classes is not None and num_classes != config.num_classes
    if fresh_head:  # the source's classifier does not fit: start a new one
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("head.")}
        config = config.replace(num_classes=num_classes)
    model = VisionTransformer(config.replace(**overrides))
    if fresh_head:
        state_dict.update({f"head.{k}": v for k, v in model.head.state_dict().items()})
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def _reject(source: str, unsupported: dict):
    """Raise if the source uses a feature our VisionTransformer lacks: its outputs could not be reproduced."""
    found = [name for name, present in unsupported.items() if present]
    if found:
        raise ValueError(f"this {source} ViT uses {found}, which minivision's VisionTransformer does not implement. "
                         f"Import a plain ViT (square images, [CLS] or mean pooling, pre-norm blocks, LayerNorm, "
                         f"exact GELU) instead.")


def _is_on(module: nn.Module) -> bool:
    """timm puts nn.Identity where an optional part (layer scale, qk_norm, fc_norm, ...) is switched off."""
    return not isinstance(module, nn.Identity)


def _is_exact_gelu(act: nn.Module) -> bool:
    """nn.GELU() or timm's own GELU (from act_layer='gelu'): both the erf form, not tanh or quick GELU."""
    if isinstance(act, nn.GELU):
        return act.approximate == "none"
    return type(act).__name__ == "GELU" and type(act).__module__.startswith("timm.")


def load_timm(source, *, image_size: int | None = None, num_classes: int | None = None,
              **config_overrides) -> VisionTransformer:
    """Import a timm ``VisionTransformer`` (e.g. ``timm.create_model("vit_base_patch16_224")``).

    Args:
        source: a timm VisionTransformer, or a timm model name, then created with ``pretrained=True``
            (a download: fails offline).
        image_size: a new input size; the position embeddings are resampled (bicubic, antialiased).
        num_classes: a new number of classes; the head is then freshly initialised (0: no head).
        config_overrides: other :class:`ViTConfig` fields, e.g. ``fused_attn=False``, ``drop_path_rate=0.1``.

    Returns:
        our VisionTransformer in eval mode, computing what the timm model computes.
    """
    import timm

    if isinstance(source, str):
        try:
            source = timm.create_model(source, pretrained=True)
        except OSError as e:  # offline and not in the cache
            raise OSError(f"could not download the timm weights {source!r} ({e}). Offline, build the model "
                          f"yourself, load a local file into it and pass the model.") from e
    if type(source) is not timm.models.vision_transformer.VisionTransformer:
        raise ValueError(f"expected a timm VisionTransformer, got {type(source).__name__} (distilled, hybrid and "
                         f"other variants are different models).")
    m, blocks = source, list(source.blocks)
    kinds = {(type(b).__name__, type(b.attn).__name__, type(b.mlp).__name__) for b in blocks}
    _reject("timm", {f"block_fn/attn_layer/mlp_layer {kinds}": kinds != {("Block", "Attention", "Mlp")}})
    _reject("timm", {  # other extras (gated attention, a patch-embedding norm, ...) fail the key check
        "reg_tokens": getattr(m, "num_reg_tokens", 0) > 0,
        "no_embed_class": m.no_embed_class,
        "dynamic_img_size (import without it, then pass dynamic_size=True)": getattr(m, "dynamic_img_size", False),
        "non-square img_size": len(set(m.patch_embed.img_size)) > 1,
        "pre_norm (norm_pre)": _is_on(m.norm_pre),
        "fc_norm (a norm after pooling)": _is_on(m.fc_norm),
        "final_norm=False": not _is_on(m.norm) and not _is_on(m.fc_norm),
        f"global_pool={m.global_pool!r}": m.global_pool not in ("token", "avg"),  # also 'map' (attention pooling)
        "global_pool='avg' with a class token": m.global_pool == "avg" and m.has_class_token,
        "layer scale (init_values)": any(_is_on(b.ls1) for b in blocks),
        "qk_norm": any(_is_on(b.attn.q_norm) for b in blocks),
        "act_layer other than exact GELU": any(not _is_exact_gelu(b.mlp.act) for b in blocks),
        "norm_layer other than LayerNorm": any(not isinstance(b.norm1, nn.LayerNorm) for b in blocks),
    })
    config = ViTConfig(
        image_size=m.patch_embed.img_size[0], patch_size=m.patch_embed.patch_size[0],
        in_channels=m.patch_embed.proj.in_channels, num_classes=m.num_classes,
        embed_dim=m.embed_dim, depth=len(blocks), num_heads=blocks[0].attn.num_heads,
        mlp_ratio=blocks[0].mlp.fc1.out_features / m.embed_dim, qkv_bias=blocks[0].attn.qkv.bias is not None,
        norm_eps=blocks[0].norm1.eps,  # timm: 1e-6
        pool="cls" if m.has_class_token else "mean",
    )
    state_dict = convert_state_dict(m.state_dict(), config, source="timm")
    return _build_model(config, state_dict, image_size, num_classes, config_overrides)


def load_hf(source, *, image_size: int | None = None, num_classes: int | None = None,
            **config_overrides) -> VisionTransformer:
    """Import a Hugging Face transformers ViT.

    Args:
        source: a ``ViTModel`` or ``ViTForImageClassification`` in memory; or a directory written by
            ``save_pretrained`` (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``); or a hub
            name such as ``"google/vit-base-patch16-224"`` (downloaded: fails offline). Files are read
            directly, so their own (transformers 4.x) key layout is the one converted.
        image_size, num_classes, config_overrides: as for :func:`load_timm`. A ViTModel has no classifier,
            so its import has no head (num_classes=0) unless ``num_classes`` asks for a fresh one.

    Returns:
        our VisionTransformer in eval mode; its ``forward_features`` is HF's ``last_hidden_state``.
    """
    if isinstance(source, (str, os.PathLike)):
        hf_config, state_dict = _read_hf_checkpoint(str(source))
    elif type(source).__name__ in ("ViTModel", "ViTForImageClassification"):
        hf_config, state_dict = source.config.to_dict(), source.state_dict()
    else:
        raise ValueError(f"expected a transformers ViTModel or ViTForImageClassification, a directory or a hub "
                         f"name, got {type(source).__name__}.")
    c = {**_HF_DEFAULTS, **hf_config}
    where = c.pop("_source_file", "the model's config")
    try:
        config, classifier = _hf_vit_config(c, state_dict)
    except (ValueError, TypeError, KeyError, ZeroDivisionError) as e:
        raise ValueError(f"{where} does not describe a ViT this library can build: {e}") from e
    state_dict = convert_state_dict(state_dict, config, source="hf")
    return _build_model(config, state_dict, image_size, num_classes, config_overrides)


def _hf_vit_config(c: dict, state_dict: dict) -> tuple[ViTConfig, torch.Tensor | None]:
    """transformers' config.json settings -> our ViTConfig (and the classifier weight, if any)."""
    _reject("HF", {
        f"model_type={c['model_type']!r} (only 'vit'; DeiT and others add tokens)": c["model_type"] != "vit",
        f"hidden_act={c['hidden_act']!r} (only the exact 'gelu')": c["hidden_act"] != "gelu",
        "non-square image_size/patch_size": not all(isinstance(c[k], int) for k in ("image_size", "patch_size")),
    })
    classifier = state_dict.get("classifier.weight")
    config = ViTConfig(
        image_size=c["image_size"], patch_size=c["patch_size"], in_channels=c["num_channels"],
        num_classes=0 if classifier is None else classifier.shape[0],
        embed_dim=c["hidden_size"], depth=c["num_hidden_layers"], num_heads=c["num_attention_heads"],
        mlp_ratio=c["intermediate_size"] / c["hidden_size"], qkv_bias=c["qkv_bias"],
        norm_eps=c["layer_norm_eps"],  # HF: 1e-12
    )
    return config, classifier


_HF_DEFAULTS = dict(model_type="vit", hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", layer_norm_eps=1e-12, image_size=224,
                    patch_size=16, num_channels=3, qkv_bias=True)  # transformers' ViTConfig defaults


def _read_hf_checkpoint(name: str) -> tuple[dict, dict]:
    """A directory or hub name -> (config.json as a dict, the tensors of its safetensors or .bin files)."""
    if not os.path.isdir(name):
        if os.path.exists(name) or name.startswith((".", "/", "~")) or name.count("/") > 1:
            raise ValueError(f"{name!r} is not a directory: pass a directory written by save_pretrained, or a hub "
                             f"name such as 'google/vit-base-patch16-224'.")
        from huggingface_hub import snapshot_download

        try:  # safetensors if the repository has them (model.safetensors, or shards), else the older pickle
            directory = snapshot_download(name, allow_patterns=["config.json", "model*.safetensors*"])
            if not glob(os.path.join(directory, "*.safetensors")):
                directory = snapshot_download(name, allow_patterns=["config.json", "pytorch_model*.bin*"])
        except OSError as e:  # offline and not cached, or no such repository
            raise OSError(f"could not download {name!r} from the Hugging Face hub ({e}). Offline, pass a "
                          f"directory written by save_pretrained or a model built in memory.") from e
        name = directory
    safetensors_files = sorted(glob(os.path.join(name, "*.safetensors")))
    bin_files = sorted(glob(os.path.join(name, "pytorch_model*.bin")))
    if not os.path.exists(os.path.join(name, "config.json")) or not (safetensors_files or bin_files):
        raise ValueError(f"{name} should hold config.json and model.safetensors (or pytorch_model.bin) as written "
                         f"by save_pretrained; it holds {sorted(os.listdir(name))}.")
    config_file = os.path.join(name, "config.json")
    try:
        with open(config_file) as f:
            hf_config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{config_file} is not valid JSON ({e}); write it again with "
                         f"save_pretrained, or restore it from the hub.") from e
    if not isinstance(hf_config, dict):
        raise ValueError(f"{config_file} should hold a JSON object of ViT settings (hidden_size, "
                         f"...), got a {type(hf_config).__name__}.")
    state_dict = {}
    for file in safetensors_files or bin_files:  # one file, or the shards of a large model
        try:
            if file.endswith(".safetensors"):
                from safetensors.torch import load_file

                state_dict.update(load_file(file))
            else:
                state_dict.update(torch.load(file, map_location="cpu", weights_only=True))
        except Exception as e:  # safetensors raises its own SafetensorError on a cut file
            raise ValueError(f"{file} cannot be read: it is truncated or corrupt "
                             f"({type(e).__name__}: {e}). Download or save it again.") from e
    hf_config["_source_file"] = config_file  # for the error messages of load_hf
    return hf_config, state_dict


def load_torchvision(source, *, weights=None, image_size: int | None = None, num_classes: int | None = None,
                     **config_overrides) -> VisionTransformer:
    """Import a torchvision ``VisionTransformer``.

    Args:
        source: a torchvision VisionTransformer (``torchvision.models.vit_b_16(weights=...)``), or a model
            name such as ``"vit_b_16"``, then built with ``weights`` (e.g. ``"DEFAULT"``: a download).
        weights: with a model name only: the torchvision weights to load (None: random).
        image_size, num_classes, config_overrides: as for :func:`load_timm`.

    Returns:
        our VisionTransformer in eval mode, computing what the torchvision model computes.
    """
    if isinstance(source, str):
        try:
            source = torchvision.models.get_model(source, weights=weights)
        except OSError as e:  # offline
            raise OSError(f"could not download the torchvision weights {weights!r} of {source!r} ({e}). Offline, "
                          f"build the model, load a local file into it and pass the model.") from e
    elif weights is not None:
        raise ValueError("weights= goes with a model name (load_torchvision('vit_b_16', weights='DEFAULT')); "
                         "a model passed in already has its weights.")
    if not isinstance(source, torchvision.models.VisionTransformer):
        raise ValueError(f"expected a torchvision VisionTransformer or a model name, got {type(source).__name__}.")
    layers = list(source.encoder.layers)
    _reject("torchvision", {
        "conv_stem_configs (a convolutional stem)": not isinstance(source.conv_proj, nn.Conv2d),
        "representation_size (heads.pre_logits + tanh before the head)": hasattr(source.heads, "pre_logits"),
        "norm_layer other than LayerNorm": not isinstance(layers[0].ln_1, nn.LayerNorm),
    })
    config = ViTConfig(
        image_size=source.image_size, patch_size=source.patch_size, in_channels=source.conv_proj.in_channels,
        num_classes=source.num_classes, embed_dim=source.hidden_dim, depth=len(layers),
        num_heads=layers[0].self_attention.num_heads, mlp_ratio=source.mlp_dim / source.hidden_dim,
        qkv_bias=layers[0].self_attention.in_proj_bias is not None,
        norm_eps=layers[0].ln_1.eps,  # torchvision: 1e-6
    )
    state_dict = convert_state_dict(source.state_dict(), config, source="torchvision")
    return _build_model(config, state_dict, image_size, num_classes, config_overrides)


__all__ = ["IGNORED_KEYS", "convert_state_dict", "load_hf", "load_timm", "load_torchvision"]

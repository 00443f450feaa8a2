"""Models say what they are (minivision.models.protocol); training and analysis ask them.

Each answer is checked against an independent derivation: timm's own ``no_weight_decay()`` and
layer-decay groups for the same weights, a hand-written layer table, the token count of a forward
pass, and the rules the training code used before the models answered (written out here).
"""
import ast
import re
from pathlib import Path

import pytest
import timm
import torch
from timm.optim._param_groups import param_groups_layer_decay
from torch import nn

import minivision
from minivision import VisionTransformer
from minivision.analysis import (GradCAM, attention_maps, attention_rollout, cls_attention_map,
                                 rollout_map)
from minivision.analysis.grid import normalize_maps, upsample
from minivision.models import (CaptionConditionedClassifier, FactorisedEncoderViT,
                               FactorisedSelfAttentionViT, PerFrameViT, PseudoVideoClassifier,
                               STNClassifier, load_timm, resnet18, vgg16)
from minivision.ssl.masked_rotation import MaskedRotationViT
from minivision.training import apply_finetune_strategy, param_groups_lrd, param_groups_weight_decay
from minivision.training.optim import no_weight_decay_names

PACKAGE = Path(minivision.__file__).parent


def tiny_vit(depth=2, **kwargs):
    return VisionTransformer(image_size=16, patch_size=8, embed_dim=32, depth=depth, num_heads=2,
                             num_classes=5, **kwargs)


def names_of(model, params):
    by_id = {id(p): n for n, p in model.named_parameters()}
    return [by_id[id(p)] for p in params]


# --- the rules of the training code before the models answered, written out -----------------

def old_no_decay(name, param):
    return param.ndim <= 1 or name.split(".")[-1] in ("pos_embed", "cls_token")


def old_layer_id(name, num_layers):
    if name.startswith("embeddings."):
        return 0
    if name.startswith("encoder.blocks."):
        return int(name.split(".")[2]) + 1
    return num_layers


def old_param_groups_lrd(model, *, lr, layer_decay, weight_decay):
    num_layers = len(model.encoder.blocks) + 1
    groups = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            layer_id = old_layer_id(name, num_layers)
            decay = 0.0 if old_no_decay(name, param) else weight_decay
            group = groups.setdefault((layer_id, decay), {
                "params": [], "lr": lr * layer_decay ** (num_layers - layer_id),
                "weight_decay": decay, "layer_id": layer_id})
            group["params"].append(param)
    return list(groups.values())


def old_classifier_head(model):
    for name in ("head", "fc"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Module) and any(True for _ in module.parameters()):
            return module
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


# --- the ViT's answers against independent derivations ----------------------------------------

@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_vit_no_weight_decay_is_the_embeddings(pool):
    model = tiny_vit(pool=pool)
    embeddings = [model.embeddings.pos_embed, model.embeddings.cls_token]
    expected = {n for n, p in model.named_parameters() if any(p is e for e in embeddings)}
    assert model.no_weight_decay() == expected
    assert len(expected) == (2 if pool == "cls" else 1)


def randomized_timm_vit(depth=2):
    torch.manual_seed(0)
    reference = timm.models.VisionTransformer(img_size=16, patch_size=8, embed_dim=32,
                                              depth=depth, num_heads=2, num_classes=5)
    with torch.no_grad():
        for param in reference.parameters():
            param.copy_(torch.randn_like(param))  # every tensor distinct: match them by value
    return reference


def timm_names(ours, reference):
    """Our parameter name -> timm's, matched by value (independent of the import's key table)."""
    theirs = list(reference.named_parameters())
    mapping = {}
    for name, param in ours.named_parameters():
        match = [n for n, p in theirs if p.shape == param.shape and torch.equal(p, param)]
        assert len(match) == 1, (name, match)
        mapping[name] = match[0]
    return mapping


def test_no_weight_decay_and_layer_ids_agree_with_timm():
    reference = randomized_timm_vit(depth=2)
    model = load_timm(reference)
    to_timm = timm_names(model, reference)
    ours_plain = {to_timm[n] for n, p in model.named_parameters()
                  if p.ndim <= 1 or n in model.no_weight_decay()}
    timm_plain = {n for n, p in reference.named_parameters()
                  if p.ndim <= 1 or n in reference.no_weight_decay()}
    assert ours_plain == timm_plain

    ours = {}
    for group in param_groups_lrd(model, lr=1.0, layer_decay=0.5, weight_decay=0.1):
        for name in names_of(model, group["params"]):
            ours[to_timm[name]] = (group["lr"], group["weight_decay"])
    theirs = {}
    for group in param_groups_layer_decay(reference, weight_decay=0.1, layer_decay=0.5,
                                          no_weight_decay_list=reference.no_weight_decay()):
        for name in names_of(reference, group["params"]):
            theirs[name] = (group["lr_scale"], group["weight_decay"])
    assert ours.keys() == theirs.keys()
    # timm's group_matcher puts the final norm with the last block; MAE and BEiT (and we) put it
    # with the head. Every other parameter gets the same rate and decay.
    final_norm = {"norm.weight", "norm.bias"}
    assert {n: ours[n] for n in ours.keys() - final_norm} == \
        {n: theirs[n] for n in theirs.keys() - final_norm}
    assert ours["norm.weight"] == (1.0, 0.0) and theirs["norm.weight"] == (0.5, 0.0)


def test_layer_ids_of_a_depth_2_vit_by_hand():
    model = tiny_vit(depth=2)
    table = {"embeddings.": 0, "encoder.blocks.0.": 1, "encoder.blocks.1.": 2,
             "encoder.norm.": 3, "head.": 3}
    assert model.num_layers == 3
    for name, _ in model.named_parameters():
        (want,) = [layer for prefix, layer in table.items() if name.startswith(prefix)]
        assert model.layer_id(name) == want, name
    with pytest.raises(ValueError, match="not a parameter name"):
        model.layer_id("encoder.blokcs.0.norm1.weight")


@pytest.mark.parametrize("pool,prefix", [("cls", 1), ("mean", 0)])
def test_prefix_tokens_and_patch_grid_agree_with_the_tokens(pool, prefix):
    model = tiny_vit(pool=pool).eval()
    tokens = model.forward_features(torch.randn(1, 3, 16, 16))  # (1, N, D)
    g_h, g_w = model.patch_grid((16, 16))
    assert model.num_prefix_tokens == prefix
    assert tokens.shape[1] == prefix + g_h * g_w and (g_h, g_w) == (2, 2)


# --- training asks the models: the same groups and frozen parameters as before -----------------

@pytest.mark.parametrize("pool", ["cls", "mean"])
@pytest.mark.parametrize("frozen", [False, True])
def test_param_groups_lrd_same_groups_as_the_name_rule(pool, frozen):
    model = tiny_vit(depth=3, pool=pool)
    if frozen:
        apply_finetune_strategy(model, "last_k", k=2)
    new = param_groups_lrd(model, lr=0.1, layer_decay=0.7, weight_decay=0.05)
    old = old_param_groups_lrd(model, lr=0.1, layer_decay=0.7, weight_decay=0.05)
    assert [{k: v for k, v in g.items() if k != "params"} for g in new] == \
        [{k: v for k, v in g.items() if k != "params"} for g in old]
    assert [names_of(model, g["params"]) for g in new] == \
        [names_of(model, g["params"]) for g in old]


def test_a_compiled_vit_gets_the_same_frozen_parameters_and_groups():
    plain, compiled = tiny_vit(depth=3), torch.compile(tiny_vit(depth=3))  # compiles on first call
    for model in (plain, compiled):
        apply_finetune_strategy(model, "last_k", k=1)
    trainable = [p.requires_grad for p in plain.parameters()]
    assert [p.requires_grad for p in compiled.parameters()] == trainable
    groups = [param_groups_lrd(m, lr=1.0, layer_decay=0.5) for m in (plain, compiled)]
    assert [(g["lr"], len(g["params"])) for g in groups[0]] == \
        [(g["lr"], len(g["params"])) for g in groups[1]]


def _backbone():
    return VisionTransformer(image_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                             num_classes=0)


MODELS = {
    "vit": lambda: tiny_vit(),
    "vit_mean": lambda: tiny_vit(pool="mean"),
    "resnet18": lambda: resnet18(num_classes=3),
    "vgg16": lambda: vgg16(num_classes=3),
    "stn": lambda: STNClassifier(num_classes=3, image_size=16),
    "model3": lambda: FactorisedSelfAttentionViT(num_frames=2, image_size=16, patch_size=8,
                                                 embed_dim=32, depth=1, num_heads=2),
    "model2": lambda: FactorisedEncoderViT(num_frames=2, image_size=16, patch_size=8,
                                           embed_dim=32, spatial_depth=1, temporal_depth=1,
                                           num_heads=2),
    "per_frame": lambda: PerFrameViT(tiny_vit()),
    "pseudo_video": lambda: PseudoVideoClassifier(_backbone(), num_frames=2, num_classes=3),
    "masked_rotation": lambda: MaskedRotationViT(_backbone()),
    "caption": lambda: CaptionConditionedClassifier(_backbone(), text_dim=8, num_classes=3),
}


# Where a model now answers better than the old name rule did (the rule missed these).
NEWLY_EXEMPT = {"model3": {"temporal_pos_embed"}}


@pytest.mark.parametrize("name", list(MODELS))
def test_weight_decay_groups_same_as_the_name_rule(name):
    model = MODELS[name]()
    decay, plain = param_groups_weight_decay(model, 0.05)
    expected_plain = {n for n, p in model.named_parameters() if old_no_decay(n, p)}
    expected_plain |= NEWLY_EXEMPT.get(name, set())
    assert set(names_of(model, plain["params"])) == expected_plain
    assert set(names_of(model, decay["params"])) == \
        {n for n, _ in model.named_parameters()} - expected_plain


@pytest.mark.parametrize("name", [n for n in MODELS if n != "masked_rotation"])
def test_head_strategy_trains_the_same_layer_as_before(name):
    model = MODELS[name]()
    apply_finetune_strategy(model, "head")
    expected = {n for n, p in model.named_parameters()
                if any(p is q for q in old_classifier_head(model).parameters())}
    assert {n for n, p in model.named_parameters() if p.requires_grad} == expected


def test_a_wrapped_vit_answers_for_its_own_embeddings():
    model = PseudoVideoClassifier(_backbone(), num_frames=2, num_classes=3)
    assert {"backbone.embeddings.pos_embed", "backbone.embeddings.cls_token",
            "temporal.pos_embed", "temporal.cls_token"} <= no_weight_decay_names(model)
    assert no_weight_decay_names(model) <= {n for n, _ in model.named_parameters()}


# --- a model that does not answer: the fallback or an error that names what is missing ---------

class Plain(nn.Module):
    """No protocol methods, and parameter names that look like a ViT's."""

    def __init__(self):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
        self.encoder = nn.Sequential(nn.Linear(8, 8))
        self.fc = nn.Linear(8, 2)


def test_a_model_without_answers_gets_the_shape_rule():
    model = Plain()
    decay, plain = param_groups_weight_decay(model, 0.1)
    assert set(names_of(model, plain["params"])) == {"encoder.0.bias", "fc.bias"}
    assert "pos_embed" in names_of(model, decay["params"])  # it did not say: 1-D rule only
    apply_finetune_strategy(model, "head")  # the last nn.Linear
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}


def test_a_model_without_answers_gets_errors_that_name_it():
    with pytest.raises(ValueError, match=r"layer-wise lr decay needs Plain .* layer_id"):
        param_groups_lrd(Plain(), lr=1.0, layer_decay=0.5)
    with pytest.raises(ValueError, match=r"'last_k' fine-tuning needs Plain .* layer_id"):
        apply_finetune_strategy(Plain(), "last_k", k=1)
    with pytest.raises(ValueError, match=r"GradCAM with no target_layer needs Plain .* "
                                         r"gradcam_layer"):
        GradCAM(Plain())
    with pytest.raises(ValueError, match=r"rollout_map needs Plain .* num_prefix_tokens"):
        rollout_map(Plain(), torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="needs a minivision VisionTransformer backbone"):
        PseudoVideoClassifier(resnet18(), num_frames=2, num_classes=3)
    with pytest.raises(ValueError, match="no classifier with parameters"):
        apply_finetune_strategy(_backbone(), "head")  # num_classes=0: nothing to train


# --- analysis asks the models: the same maps as the attribute paths gave ----------------------

@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_gradcam_default_layer_of_a_vit(pool):
    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                              num_classes=5, pool=pool).eval()  # a 4x4 grid of patches
    images = torch.randn(2, 3, 32, 32)
    prefix = 1 if pool == "cls" else 0
    explicit = GradCAM(model, model.encoder.blocks[-1].norm1, num_prefix_tokens=prefix)
    heat = GradCAM(model)(images, target=1)
    torch.testing.assert_close(heat, explicit(images, target=1))
    assert (torch.count_nonzero(heat, dim=(1, 2)) > 0).all()  # a map, not all zeros


@pytest.mark.parametrize("build,layer", [(resnet18, "layer4"), (vgg16, None)])
def test_gradcam_default_layer_of_a_cnn(build, layer):
    torch.manual_seed(0)
    model = build(num_classes=3).eval()
    images = torch.randn(2, 3, 32, 32)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    explicit = getattr(model, layer) if layer else relus[-3]  # VGG: the last conv's ReLU
    heat = GradCAM(model)(images, target=2)
    torch.testing.assert_close(heat, GradCAM(model, explicit)(images, target=2))
    assert heat.shape == (2, 32, 32)


def test_rollout_map_same_as_the_attribute_paths():
    torch.manual_seed(0)
    model = tiny_vit(depth=2).eval()
    images = torch.randn(2, 3, 16, 16)
    patch = model.embeddings.patch_embed.patch_size
    rollout = attention_rollout(attention_maps(model, images))
    maps = cls_attention_map(rollout, (16 // patch, 16 // patch), 1)
    expected = normalize_maps(upsample(maps, (16, 16)))
    torch.testing.assert_close(rollout_map(model, images), expected)


# --- training/ and analysis/ contain no string paths into a model's attributes --------------

def structural_names() -> set[str]:
    """Every submodule and parameter name component of the library's models."""
    with torch.device("meta"):
        models = [factory() for factory in MODELS.values()]
    names = set()
    for model in models:
        for name, _ in [*model.named_modules(), *model.named_parameters()]:
            names |= {part for part in name.split(".") if part and not part.isdigit()}
    return names


GENERIC = {"weight", "bias", "norm", "proj", "relu", "act", "dropout", "q", "k", "v"}  # everyday
ATTRIBUTE_CALLS = {"getattr", "hasattr", "setattr", "delattr"}


def attribute_paths(source: str, structural: set[str]) -> list[str]:
    """Where ``source`` guesses a model's structure: a string literal that starts with a
    structural name and a dot ("encoder.blocks."), a structural name given to getattr/hasattr
    (directly or through a loop over literals) or matched with startswith/endswith, a tuple of
    structural names, or an attribute access such as ``model.blocks``. (A comparison such as
    ``strategy == "head"`` is not a path: "head" is also the name of a fine-tuning strategy.)"""
    tree, found = ast.parse(source), []
    names = structural - GENERIC
    starts = re.compile(rf"^({'|'.join(sorted(structural))})\.")

    def strings(node) -> set:
        """The string constants of a constant or of a tuple/list/set of constants."""
        elts = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return {e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}

    loops = {node.target.id: strings(node.iter) for node in ast.walk(tree)
             if isinstance(node, ast.For) and isinstance(node.target, ast.Name)}
    for node in ast.walk(tree):
        line = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and starts.match(node.value):
            found.append(f"{line}: string {node.value!r}")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts \
                and strings(node) and strings(node) <= names:
            found.append(f"{line}: names {sorted(strings(node))}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ATTRIBUTE_CALLS and len(node.args) >= 2:
            arg = node.args[1]
            values = loops.get(arg.id, set()) if isinstance(arg, ast.Name) else strings(arg)
            if values & names:
                found.append(f"{line}: {node.func.id}(..., {sorted(values & names)})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("startswith", "endswith") and node.args \
                and strings(node.args[0]) & names:
            found.append(f"{line}: {node.func.attr}({sorted(strings(node.args[0]))})")
        elif isinstance(node, ast.Attribute) and node.attr in names \
                and getattr(node.value, "id", None) != "self":  # a class's own fields are its own
            found.append(f"{line}: attribute .{node.attr}")
    return found


OLD_CODE = {  # what training/ and analysis/ did before the models answered
    "prefix": 'def f(name):\n    return name.startswith("encoder.blocks.")\n',
    "getattr": 'blocks = getattr(getattr(model, "encoder", None), "blocks", None)\n',
    "loop": 'for name in ("head", "fc"):\n    module = getattr(model, name, None)\n',
    "attribute": "layer = model.encoder.blocks[-1].norm1\n",
    "rollout": "patch = model.embeddings.patch_embed.patch_size\n",
    "names": 'NO_DECAY_NAMES = ("pos_embed", "cls_token")\n',
    "endswith": 'plain = name.endswith("cls_token")\n',
}


@pytest.mark.parametrize("case", list(OLD_CODE))
def test_the_scan_finds_the_old_patterns(case):
    assert attribute_paths(OLD_CODE[case], structural_names())


@pytest.mark.parametrize("package", ["training", "analysis"])
def test_training_and_analysis_do_not_guess_attribute_paths(package):
    structural = structural_names()
    assert {"embeddings", "encoder", "blocks", "head", "fc", "layer4"} <= structural
    found = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        hits = attribute_paths(path.read_text(), structural)
        if hits:
            found[str(path.relative_to(PACKAGE))] = hits
    assert not found, f"ask the model (minivision.models.protocol) instead of: {found}"

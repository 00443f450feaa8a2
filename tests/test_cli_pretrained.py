"""`minivision train --pretrained`: torchvision, timm and Hugging Face weights, by name or from a
local path, fine-tuned for two steps on the built-in shapes, offline.

The weights are tiny random ViTs saved to files. Names resolve the way tests/colab_cells.py makes
lesson 03's Colab cell resolve them: the Hugging Face name from a hub cache holding a
``save_pretrained`` folder, the timm and torchvision registry names (which fix a full-size
architecture) redirected to the tiny files. Each run is checked against the *source* model read
by its own library: the converted tensors, a new head for the dataset's classes, the image size
and the normalisation the weights expect. Every user error is one line and exit code 2.
"""
import argparse
import json
import urllib.error

import pytest
import torch
import torchvision
from torchvision.transforms import v2

from colab_cells import redirect_registry_names
from test_colab_paths import HUB_MODEL, _noisy, hub_snapshot, save_vit_stand_ins, tiny_hf_vit

from minivision import ViTConfig, VisionTransformer
from minivision.cli import main
from minivision.data import dataset_info, get_dataset, to_uint8
from minivision.training import History, load_checkpoint, trainer

timm = pytest.importorskip("timm")
constants = pytest.importorskip("huggingface_hub.constants")

TINY = ["--train-samples", "16", "--test-samples", "8", "--batch-size", "8", "--epochs", "1",
        "--no-progress"]  # two training steps
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # torchvision's weights' statistics
TV_ARGS = dict(patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)  # vit_b_16's
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # the statistics timm and google/vit-* state


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache and no hub: what a machine without a network has."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hub


@pytest.fixture
def stand_ins(tmp_path, offline_hub, monkeypatch):
    """Lesson 03's stand-ins (tiny ViT-B/16s at 224 px: HF in the hub cache, timm and torchvision
    in files under their registry names) and a torchvision state dict of 48 px and 7 classes."""
    names = save_vit_stand_ins(tmp_path, offline_hub)
    processor = hub_snapshot(offline_hub, HUB_MODEL) / "preprocessor_config.json"
    processor.write_text(json.dumps({"do_normalize": True, "image_mean": list(HALF[0]),
                                     "image_std": list(HALF[1])}))
    monkeypatch.setattr(timm, "create_model", timm.create_model)  # restored after the test
    get_model = torchvision.models.get_model
    monkeypatch.setattr(torchvision.models, "get_model", get_model)
    redirect_registry_names(names)
    with_weights = torchvision.models.get_model  # colab_cells' wrapper: names with weights

    def get_model_or_architecture(name, **config):  # a state dict's heads: from the stand-in too
        if name == "vit_b_16" and config.get("weights") is None:
            return torchvision.models.VisionTransformer(image_size=224, **TV_ARGS)
        return with_weights(name, **config)

    monkeypatch.setattr(torchvision.models, "get_model", get_model_or_architecture)
    file_model = _noisy(torchvision.models.VisionTransformer(image_size=48, num_classes=7,
                                                             **TV_ARGS))
    torch.save(file_model.state_dict(), tmp_path / "finetuned_vit.pth")
    return {**names, "hub": offline_hub, "file": tmp_path / "finetuned_vit.pth"}


@pytest.fixture
def seen(monkeypatch):
    """What fit receives: the weights before the first step, and every input batch's shape."""
    seen, fit = {"shapes": set()}, trainer.fit

    def spy(model, train_loader, **kwargs):
        seen["state"] = {k: v.clone() for k, v in model.state_dict().items()}

        def record(module, args):
            seen["shapes"].add(tuple(args[0].shape[1:]))  # (C, H, W)
            if not module.training:
                seen.setdefault("test_batch", args[0].clone())  # (B, C, H, W)

        model.register_forward_pre_hook(record)
        return fit(model, train_loader, **kwargs)

    monkeypatch.setattr(trainer, "fit", spy)
    return seen


def source_model(spec: str, stand_ins: dict):
    """The stand-in behind ``spec``, read by its own library, and its state dict's names for a
    few of ours (qkv: one tensor, or HF's q, k, v to concatenate)."""
    if spec in ("torchvision:vit_b_16", "file"):
        kwargs = stand_ins["torchvision"]["vit_b_16"]
        model = torchvision.models.VisionTransformer(**kwargs["kwargs"]) if spec != "file" else \
            torchvision.models.VisionTransformer(image_size=48, num_classes=7, **TV_ARGS)
        model.load_state_dict(torch.load(kwargs["file"] if spec != "file" else stand_ins["file"]))
        block = "encoder.layers.encoder_layer_1."
        return model, model.image_size, {
            "embeddings.patch_embed.proj.weight": "conv_proj.weight",
            "embeddings.pos_embed": "encoder.pos_embedding",
            "encoder.blocks.1.attn.qkv.weight": block + "self_attention.in_proj_weight",
            "encoder.blocks.1.mlp.fc2.bias": block + "mlp.3.bias",
            "encoder.norm.weight": "encoder.ln.weight"}
    if spec.startswith("timm"):
        model = timm.create_model(stand_ins["timm"]["vit_base_patch16_224"], pretrained=True)
        return model, model.patch_embed.img_size[0], {
            "embeddings.patch_embed.proj.weight": "patch_embed.proj.weight",
            "embeddings.cls_token": "cls_token",
            "encoder.blocks.1.attn.qkv.weight": "blocks.1.attn.qkv.weight",
            "encoder.blocks.1.mlp.fc2.bias": "blocks.1.mlp.fc2.bias",
            "encoder.norm.weight": "norm.weight"}
    transformers = pytest.importorskip("transformers")
    model = transformers.ViTForImageClassification.from_pretrained(
        hub_snapshot(stand_ins["hub"], HUB_MODEL))
    attention = "vit.layers.1.attention."
    return model, model.config.image_size, {
        "embeddings.patch_embed.proj.weight": "vit.embeddings.patch_embeddings.projection.weight",
        "embeddings.pos_embed": "vit.embeddings.position_embeddings",
        "encoder.blocks.1.attn.qkv.weight": tuple(attention + f"{x}_proj.weight" for x in "qkv"),
        "encoder.blocks.1.mlp.fc2.bias": "vit.layers.1.mlp.fc2.bias",
        "encoder.norm.weight": "vit.layernorm.weight"}


def source_features(source, x: torch.Tensor) -> torch.Tensor:
    """The source library's tokens after the final norm, (B, N, D): what our forward_features
    must give (so a wrong number of heads would show, which no tensor comparison can)."""
    if isinstance(source, torchvision.models.VisionTransformer):
        tokens = source._process_input(x)  # (B, g*g, D)
        cls = source.class_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        return source.encoder(torch.cat([cls, tokens], dim=1))  # (B, N, D)
    if hasattr(source, "vit"):  # transformers
        return source.vit(pixel_values=x).last_hidden_state
    return source.forward_features(x)  # timm


CASES = {  # spec (or what it is built from) -> the statistics the weights state
    "torchvision:vit_b_16": IMAGENET,
    "timm:vit_base_patch16_224": HALF,  # its pretrained_cfg, saved by save_for_hf
    f"hf:{HUB_MODEL}": HALF,  # preprocessor_config.json in the hub cache
    "hf folder": HALF,  # the snapshot folder: save_pretrained's files + preprocessor_config.json
    "timm folder": HALF,
    "file": None,  # a state dict does not say: the dataset's
}


def spec_of(case: str, stand_ins: dict) -> str:
    return {"hf folder": str(hub_snapshot(stand_ins["hub"], HUB_MODEL)),
            "timm folder": stand_ins["timm"]["vit_base_patch16_224"].removeprefix("local-dir:"),
            "file": str(stand_ins["file"])}.get(case, case)


@pytest.mark.parametrize("case", list(CASES))
def test_pretrained_weights_are_fine_tuned(case, stand_ins, seen, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--pretrained", spec_of(case, stand_ins), *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "final test accuracy" in printed and "normalisation: " in printed
    source, image_size, names = source_model(case, stand_ins)
    reference = source.state_dict()
    for ours, theirs in names.items():  # the weights fit received are the file's
        expected = torch.cat([reference[n] for n in theirs]) if isinstance(theirs, tuple) \
            else reference[theirs]
        torch.testing.assert_close(seen["state"][ours], expected, rtol=0, atol=0, msg=ours)
    num_classes = dataset_info("builtin").num_classes
    head = seen["state"]["head.weight"]  # (K, D): new, even where the source has K classes too
    assert head.shape == (num_classes, source.state_dict()[names["encoder.norm.weight"]].shape[0])
    assert not any(t.shape == head.shape and torch.equal(t, head) for t in reference.values())
    assert seen["shapes"] == {(3, image_size, image_size)}  # the source's size, not 32 (nor 224)
    mean, std = CASES[case] or (dataset_info("builtin").mean, dataset_info("builtin").std)
    image = get_dataset("builtin", train=False, num_samples=8, transform=to_uint8)[0][0]
    expected = v2.Compose([v2.ToImage(), v2.Resize((image_size, image_size), antialias=True),
                           v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])(image)
    torch.testing.assert_close(seen["test_batch"][0], expected.as_subclass(torch.Tensor))
    record = json.loads((out / "config.json").read_text())["pretrained"]
    assert record["spec"] == spec_of(case, stand_ins)
    ours = VisionTransformer(ViTConfig(**record["vit_config"]))  # what --resume rebuilds
    ours.load_state_dict(seen["state"])
    x = torch.randn(2, 3, image_size, image_size)  # (B, C, H, W)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval().forward_features(x),
                                   source_features(source.eval(), x), atol=1e-5, rtol=1e-4)
    assert load_checkpoint(out / "last.pt")["identity"]["pretrained"] == record["spec"]


def test_resume_rebuilds_the_model_from_the_record(stand_ins, tmp_path, capsys):
    out, file = tmp_path / "run", stand_ins["file"]
    assert main(["train", "--pretrained", str(file), *TINY, "--out", str(out)]) == 0
    file.unlink()  # a resume must not need the pretrained weights again
    assert main(["train", *TINY[:-3], "--epochs", "2", "--no-progress", "--out", str(out),
                 "--resume"]) == 0
    printed = capsys.readouterr().out
    assert f"--resume: the ViT fine-tuned from {file} is rebuilt from the record" in printed
    assert len(History.from_json(out / "metrics.json")) == 2
    code = main(["train", "--pretrained", "torchvision:vit_b_16", *TINY[:-3], "--epochs", "3",
                 "--no-progress", "--out", str(out), "--resume"])
    assert code == 2  # other weights than the checkpoint's: the identity check says so
    assert "pretrained" in capsys.readouterr().err


def _torchvision_offline(tmp_path, monkeypatch):
    """No network for torch.hub (the download raises what urllib raises offline), empty cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


def _deit_folder(path):
    """A save_pretrained folder whose config.json says DeiT, which load_hf does not convert."""
    tiny_hf_vit().save_pretrained(path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "model_type": "deit"}))


FILES = {  # paths that hold no usable checkpoint, each in a different way
    "notes.pth": lambda path: path.write_text("not a checkpoint"),
    "pickled.pth": lambda path: torch.save({"args": argparse.Namespace(lr=0.1)}, path),
    "odd_vit.pth": lambda path: torch.save(  # the shapes of no torchvision builder
        torchvision.models.VisionTransformer(image_size=32, **TV_ARGS).state_dict(), path),
    "timm_vit.pth": lambda path: torch.save(timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=32, depth=1).state_dict(), path),
    "deit": _deit_folder,
}


ERRORS = [  # (--pretrained, other flags, what the one line must say)
    ("torchvision:vit_b_16", [], r"cannot download torchvision weights vit_b_16 \(IMAGENET1K_V1; "
     r"no network\?.*put the file at .*torch/hub/checkpoints/vit_b_16-c867db91\.pth or pass a "
     r"local path"),
    ("timm:vit_tiny_patch16_224", [], r"cannot download timm weights vit_tiny_patch16_224 "
     r"\(no network\?.*hub cache .*or pass a local folder"),
    (f"hf:{HUB_MODEL}", [], r"cannot download Hugging Face weights google/vit-base-patch16-224"),
    ("foo:bar", [], r"unknown prefix 'foo'; use torchvision:NAME\[:WEIGHTS\], timm:NAME"),
    ("no/such/weights.pth", [], r"no such file or folder"),
    ("torchvision:resnet18", [], r"resnet18 is not a VisionTransformer.*vit_b_16"),
    ("torchvision:vit_b_16:NOPE", [], r"has no weights 'NOPE'; choose one of IMAGENET1K_V1"),
    ("notes.pth", [], r"notes\.pth is not a checkpoint that torch\.load or safetensors can read"),
    ("pickled.pth", [], r"holds Python objects besides tensors.*save model\.state_dict\(\)"),
    ("odd_vit.pth", [], r"match none of torchvision's ViTs .*does not say its number of heads"),
    ("timm_vit.pth", [], r"a timm state dict.*save_for_hf"),
    ("deit", [], r"model_type='deit'.*does not implement"),
    ("torchvision:vit_b_16", ["--model", "resnet18"], r"--model resnet18 and --pretrained "
     r"torchvision:vit_b_16 both choose the model: drop --model"),
    ("torchvision:vit_b_16", ["--data-on-device"], r"drop --data-on-device"),
]


@pytest.mark.parametrize("spec, flags, message", ERRORS, ids=[e[0] + "".join(e[1])
                                                              for e in ERRORS])
def test_errors_are_one_line_and_exit_2(spec, flags, message, tmp_path, offline_hub, monkeypatch,
                                        capsys):
    _torchvision_offline(tmp_path, monkeypatch)
    if spec in FILES:
        FILES[spec](tmp_path / spec)
        spec = str(tmp_path / spec)
    monkeypatch.chdir(tmp_path)  # "no/such/weights.pth" is relative
    out = tmp_path / "x"
    assert main(["train", "--pretrained", spec, *flags, *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("minivision train: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    pytest.importorskip("re").search(message, lines[0]) or pytest.fail(f"{message!r} not in "
                                                                       f"{lines[0]!r}")
    assert not (out / "config.json").exists()  # nothing written for a run that cannot start


def test_help_documents_pretrained(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--pretrained SPEC" in text and "torchvision:vit_b_16[:WEIGHTS]" in text
    assert "save_pretrained" in text and "not with --pretrained" in text

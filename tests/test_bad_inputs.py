"""A catalogue of the mistakes a careless or unlucky user makes, through the API and both commands.

Each case asserts the error's type and that its message names what was expected (a range, a
dtype, a shape, a file), so that a message that stops helping fails here. The CLI cases also
assert the one-line ``minivision <command>: error:`` form, exit code 2 and no traceback.
"""
import json
import math
import multiprocessing
import re

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from minivision import Attention, STNClassifier, ViTConfig, VisionTransformer, resnet18, vgg16
from minivision.cli import main
from minivision.models.vit_import import load_hf
from minivision.training import CheckpointError, TrainConfig, fit
from minivision.training.runlock import RunLock, RunLockedError
from minivision.training.trainer import NonFiniteLossError

from test_training import tiny_data, tiny_vit

# --- TrainConfig: every field, at the boundary -------------------------------------------------
CONFIG_CASES = [
    (dict(lr=math.nan), r"lr must be a finite number > 0, got nan"),
    (dict(lr=math.inf), r"lr must be a finite number > 0, got inf"),
    (dict(lr=-1e-3), r"lr must be a finite number > 0, got -0.001"),
    (dict(lr=0), r"lr must be a finite number > 0, got 0"),
    (dict(lr="1e-3"), r"lr must be a number > 0, got '1e-3'"),
    (dict(epochs=2.5), r"epochs must be a whole number, got 2.5"),
    (dict(epochs=0), r"epochs must be at least 1, got 0"),
    (dict(epochs=True), r"epochs must be a whole number, got True"),
    (dict(min_lr=1.0), r"min_lr must be a finite number in \[0, 0.001\].*decays from lr=0.001"),
    (dict(min_lr=-1e-5), r"min_lr must be a finite number in \[0, 0.001\]"),
    (dict(weight_decay=-1), r"weight_decay must be a finite number >= 0, got -1"),
    (dict(weight_decay=math.inf), r"weight_decay must be a finite number >= 0, got inf"),
    (dict(momentum=-1), r"momentum must be a finite number in \[0, 1\), got -1"),
    (dict(momentum=1.0), r"momentum must be a finite number in \[0, 1\), got 1.0"),
    (dict(warmup_epochs=-1), r"warmup_epochs must be a finite number >= 0, got -1"),
    (dict(warmup_epochs=math.nan), r"warmup_epochs must be a finite number >= 0, got nan"),
    (dict(label_smoothing=1.0), r"label_smoothing must be a finite number in \[0, 1\), got 1.0"),
    (dict(grad_clip=-1), r"grad_clip must be a finite number > 0.*None turns clipping off.*got -1"),
    (dict(grad_clip=0), r"grad_clip must be a finite number > 0"),
    (dict(grad_clip=math.nan), r"grad_clip must be a finite number > 0.*got nan"),
    (dict(layer_decay=0), r"layer_decay must be a finite number in \(0, 1\], got 0"),
    (dict(layer_decay=1.5), r"layer_decay must be a finite number in \(0, 1\], got 1.5"),
    (dict(betas=(0.9,)), r"betas must be a pair \(beta1, beta2\), got \(0.9,\)"),
    (dict(betas=(0.9, 1.0)), r"betas must be a finite number in \[0, 1\), got 1.0"),
    (dict(seed=-1), r"seed must be at least 0, got -1"),
    (dict(seed=1.5), r"seed must be a whole number, got 1.5"),
    (dict(checkpoint_every=0), r"checkpoint_every must be at least 1, got 0"),
    (dict(max_steps=2.5), r"max_steps must be a whole number, got 2.5"),
    (dict(optimizer="adam"), r"optimizer must be one of \['adamw', 'sgd'\], got 'adam'"),
    (dict(loss="mse"), r"loss must be one of \['ce', 'bce'\], got 'mse'"),
    (dict(amp="fp32"), r"amp must be one of \['auto', None, 'bf16', 'fp16'\], got 'fp32'"),
    (dict(device="tpu"), r"device must be one of \[None, 'cuda', 'mps', 'cpu'\], got 'tpu'"),
    (dict(nesterov=True), r"nesterov=True needs optimizer='sgd' with momentum > 0"),
    (dict(progress="yes"), r"progress must be True or False, got 'yes'"),
    (dict(resume=True), r"resume=True reads out/last.pt, but out is None"),
    (dict(resume=3), r"resume must be a checkpoint path, True or None, got 3"),
]


@pytest.mark.parametrize("kwargs, message", CONFIG_CASES, ids=lambda v: str(v)[:40])
def test_train_config_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        TrainConfig(**kwargs)
    assert info.value.field in kwargs  # the CLI turns it into the flag's name


def test_unknown_config_field_lists_the_fields():
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['learning_rate'\]"):
        TrainConfig().replace(learning_rate=1.0)


# --- models and layers ----------------------------------------------------------------------------
def _vit(**kw):
    return VisionTransformer(**{**dict(image_size=16, patch_size=8, embed_dim=32, depth=1,
                                       num_heads=2, num_classes=4), **kw})


def _nan_images():
    x = torch.rand(2, 3, 16, 16)
    x[1, 0, 3, 3] = math.nan
    return x


def _debug_vit():
    model = _vit()
    model.check_finite = True
    return model


MODEL_CASES = [
    ("vit-uint8", lambda: _vit()(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)),
     r"images must be floating point, got torch.uint8 \(pixels 0-255\?\): x.float\(\) / 255"),
    ("vit-float64", lambda: _vit()(torch.zeros(2, 3, 16, 16, dtype=torch.float64)),
     r"images are torch.float64 but the model's weights are torch.float32"),
    ("vit-int64", lambda: _vit()(torch.zeros(2, 3, 16, 16, dtype=torch.int64)),
     r"images must be floating point, got torch.int64: x.float\(\)"),
    ("vit-nan-debug", lambda: _debug_vit()(_nan_images()),
     r"the images hold 1 NaN and 0 infinite values \(batch items \[1\]"),
    ("vit-non-square-dynamic", lambda: _vit(dynamic_size=True)(torch.rand(1, 3, 16, 32)),
     r"dynamic_size ViT takes square images only, got 16x32.*CenterCrop\(16\)"),
    ("vit-num-classes-negative", lambda: _vit(num_classes=-1),
     r"num_classes must be an integer >= 0 \(0: no head, features only\), got -1"),
    ("vit-num-classes-float", lambda: _vit(num_classes=2.5),
     r"num_classes must be an integer >= 0.*got 2.5"),
    ("vit-reset-classifier", lambda: _vit().reset_classifier(-3), r"num_classes must be .*got -3"),
    ("vit-mlp-ratio-zero", lambda: ViTConfig(mlp_ratio=0), r"mlp_ratio must be a positive number"),
    ("vit-mlp-ratio-negative", lambda: ViTConfig(mlp_ratio=-4.0), r"got -4.0; ViT uses 4.0"),
    ("vit-mlp-ratio-nan", lambda: ViTConfig(mlp_ratio=math.nan), r"mlp_ratio .* got nan"),
    ("vit-dropout-one", lambda: ViTConfig(dropout=1.0), r"dropout is a probability in \[0, 1\)"),
    ("vit-norm-eps", lambda: ViTConfig(norm_eps=0), r"norm_eps must be a small positive number"),
    ("vit-depth-float", lambda: ViTConfig(depth=2.0), r"depth must be a positive integer, got 2.0"),
    ("vit-unknown-field", lambda: ViTConfig().replace(heads=4), r"unknown ViTConfig .*'heads'"),
    ("attention-rank-2", lambda: Attention(embed_dim=32, num_heads=2)(torch.rand(5, 32)),
     r"tokens of shape \(B, N, D=32\), got a tensor of shape \(5, 32\); .*x.unsqueeze\(0\)"),
    ("attention-images", lambda: Attention(embed_dim=32, num_heads=2)(torch.rand(1, 3, 8, 8)),
     r"D=32\), got a tensor of shape \(1, 3, 8, 8\); images .* PatchEmbeddings first"),
    ("attention-width", lambda: Attention(embed_dim=32, num_heads=2)(torch.rand(1, 5, 16)),
     r"D=32\), got .* \(1, 5, 16\); build Attention\(embed_dim=16"),
    ("resnet-uint8", lambda: resnet18(num_classes=4)(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)),
     r"images must be floating point, got torch.uint8"),
    ("resnet-num-classes", lambda: resnet18(num_classes=0), r"num_classes must be a positive"),
    ("resnet-rank-3", lambda: resnet18(num_classes=4)(torch.rand(3, 32, 32)),
     r"expected images \(B, 3, H, W\), got .* \(3, 32, 32\).*unsqueeze\(0\)"),
    ("vgg-float64", lambda: vgg16(num_classes=4)(torch.rand(1, 3, 32, 32, dtype=torch.float64)),
     r"images are torch.float64 but the model's weights are torch.float32"),
    ("stn-num-classes", lambda: STNClassifier(num_classes=-1), r"num_classes must be a positive"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in MODEL_CASES],
                         ids=[c[0] for c in MODEL_CASES])
def test_models_reject(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _hf_dir(tmp_path, config="valid", weights=b"\x00" * 64):
    valid = {"model_type": "vit", "hidden_size": 32, "num_hidden_layers": 1,
             "num_attention_heads": 2, "intermediate_size": 64, "image_size": 16, "patch_size": 8}
    text = {"valid": json.dumps(valid), "broken": '{"hidden_size": 32,', "list": "[1, 2]",
            "zero-heads": json.dumps({**valid, "num_attention_heads": 0})}[config]
    (tmp_path / "config.json").write_text(text)
    (tmp_path / "model.safetensors").write_bytes(weights)
    if config != "valid":  # whole weights: the config is what is wrong
        from safetensors.torch import save_file

        save_file({"x": torch.zeros(2)}, tmp_path / "model.safetensors")
    return tmp_path


@pytest.mark.parametrize("config, message", [
    ("valid", r"model.safetensors cannot be read: it is truncated or corrupt"),
    ("broken", r"config.json is not valid JSON"),
    ("list", r"config.json should hold a JSON object of ViT settings.*got a list"),
    ("zero-heads", r"config.json does not describe a ViT .*num_heads must be a positive integer"),
])
def test_load_hf_names_the_bad_file(tmp_path, config, message):
    with pytest.raises(ValueError, match=message):
        load_hf(_hf_dir(tmp_path, config))


# --- fit ------------------------------------------------------------------------------------------
def _loader(n=16, batch_size=8, scale=1.0, nan=False):
    x, y = tiny_data(n=n)[:]
    x = x * scale
    if nan:
        x[3, 0, 0, 0] = math.nan
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def test_nan_images_stop_at_the_first_step():
    with pytest.raises(ValueError, match=r"images of step 1 hold 1 NaN .*check the data pipeline"):
        fit(tiny_vit(), _loader(nan=True), epochs=1, progress=False)


class Overflowing(torch.utils.data.Dataset):
    """Finite images that turn huge (3e38, still finite) after ``after`` reads: logits overflow."""

    def __init__(self, base, after):
        self.base, self.after, self.reads = base, after, 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.reads += 1
        x, y = self.base[i]
        return (x.sign() * 3e38 if self.reads > self.after else x), y


def test_diverging_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    data = Overflowing(tiny_data(n=16), after=16)  # steps 1-2 (epoch 1) are fine, 3 is not
    with pytest.raises(NonFiniteLossError,
                       match=r"the loss is (nan|inf) at step 3 \(epoch 2\): training stopped; the "
                             r"last good checkpoint in .* is kept.*logits overflowed: lower the "
                             r"learning rate \(lr=0.001\)"):
        fit(tiny_vit(), DataLoader(data, batch_size=8), epochs=3, out=tmp_path, progress=False)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["position"]["step"] == 2


def test_amp_fp16_on_cpu():
    with pytest.raises(ValueError, match=r"amp='fp16' needs a CUDA GPU.*Use amp='auto'"):
        fit(tiny_vit(), _loader(), amp="fp16", device="cpu", progress=False)


def test_resume_with_another_batch_size_names_the_difference(tmp_path):
    fit(tiny_vit(), _loader(), epochs=1, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"batch_size 8 in the checkpoint, 4 now.*--resume-anyway"):
        fit(tiny_vit(), _loader(batch_size=4), epochs=2, out=tmp_path, resume=True,
            progress=False)
    with pytest.raises(ValueError, match=r"seed 0 in the checkpoint, 3 now"):
        fit(tiny_vit(), _loader(), epochs=2, out=tmp_path, resume=True, seed=3, progress=False)
    fit(tiny_vit(), _loader(batch_size=4), epochs=2, out=tmp_path, resume=True,
        resume_anyway=True, progress=False)  # said on purpose: accepted


def test_resume_from_another_architecture(tmp_path):
    fit(tiny_vit(), _loader(), epochs=1, out=tmp_path, progress=False)
    other = VisionTransformer(image_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2,
                              num_classes=4)
    with pytest.raises(CheckpointError, match=r"holds a different model \(VisionTransformer\): "
                                              r".*pos_embed is \(1, 5, 32\) there, \(1, 17, 32\)"):
        fit(other, _loader(), epochs=2, out=tmp_path, resume=True, progress=False)


def test_resume_true_falls_back_to_prev_with_a_warning(tmp_path):
    fit(tiny_vit(), _loader(), epochs=2, out=tmp_path, progress=False)
    (tmp_path / "last.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.warns(UserWarning, match=r"last.pt cannot be read.*Resuming from the previous "
                                         r"checkpoint, .*prev.pt \(step 2\)"):
        history = fit(tiny_vit(), _loader(), epochs=2, out=tmp_path, resume=True, progress=False)
    assert len(history) == 2


def test_out_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(CheckpointError, match=r"f is a file, not a folder; choose another"):
        fit(tiny_vit(), _loader(), epochs=1, out=tmp_path / "f", progress=False)


def test_read_only_out_fails_before_training(tmp_path, monkeypatch, capsys):
    import errno
    import pathlib

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
    with pytest.raises(CheckpointError, match=r"cannot write .*\.lock: the folder is on a "
                                              r"read-only filesystem; choose a writable"):
        fit(tiny_vit(), _loader(), epochs=1, out=tmp_path / "ro", progress=False)
    assert main(["train", *TINY, "--out", str(tmp_path / "ro")]) == 2
    assert "read-only filesystem" in capsys.readouterr().err


def _hold_lock(folder, ready, release):
    with RunLock(folder):
        ready.set()
        release.wait(30)


def test_second_run_in_the_same_out_names_the_first(tmp_path):
    ctx = multiprocessing.get_context("fork")  # the child only takes a file lock
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunLockedError, match=rf"another run is writing to .* \(pid "
                                                 rf"{holder.pid} on .*choose another output"):
            fit(tiny_vit(), _loader(), epochs=1, out=tmp_path, progress=False)
        assert main(["train", "--out", str(tmp_path), "--train-samples", "16"]) == 2
    finally:
        release.set()
        holder.join()
    fit(tiny_vit(), _loader(), epochs=1, out=tmp_path, progress=False)  # free again


# --- minivision train -----------------------------------------------------------------------------
TINY = ["--train-samples", "32", "--test-samples", "16", "--batch-size", "16", "--epochs", "1",
        "--no-progress"]
CLI_CASES = [
    (["--lr", "nan"], r"--lr: lr must be a finite number > 0, got nan"),
    (["--lr", "inf"], r"--lr: lr must be a finite number > 0, got inf"),
    (["--lr", "-0.1"], r"--lr: lr must be a finite number > 0, got -0.1"),
    (["--momentum", "-1"], r"--momentum: momentum must be a finite number in \[0, 1\), got -1"),
    (["--weight-decay", "-1"], r"--weight-decay: weight_decay must be a finite number >= 0"),
    (["--grad-clip", "-1"], r"--grad-clip: grad_clip must be a finite number > 0"),
    (["--min-lr", "0.1"], r"--min-lr: min_lr must be a finite number in \[0, 0.002\]"),
    (["--label-smoothing", "1"], r"--label-smoothing: label_smoothing must be .* \[0, 1\)"),
    (["--warmup-epochs", "-2"], r"--warmup-epochs: warmup_epochs must be a finite number >= 0"),
    (["--epochs", "0"], r"--epochs: epochs must be at least 1, got 0"),
    (["--seed", "-5"], r"--seed: seed must be at least 0, got -5"),
    (["--checkpoint-every", "0"], r"--checkpoint-every: checkpoint_every must be at least 1"),
    (["--max-steps", "0"], r"--max-steps: max_steps must be at least 1, got 0"),
    (["--batch-size", "0"], r"--batch-size must be at least 1, got 0"),
    (["--train-samples", "0"], r"--train-samples must be at least 1, got 0"),
    (["--model", "vit_huge_nope"], r"unknown model 'vit_huge_nope'; choose one of:.*resnet18"),
    (["--amp", "fp16", "--device", "cpu"], r"amp='fp16' needs a CUDA GPU"),
    (["--device", "mps"], r"device='mps' was asked for, but MPS is not available; use 'cpu'"),
    (["--resume", "/nonexistent/last.pt"], r"--resume /nonexistent/last.pt: no such checkpoint"),
    (["--resume"], r"--resume without a path reads .*last.pt \(or prev.pt\), which do not exist"),
]
if not torch.cuda.is_available():
    CLI_CASES.append((["--device", "cuda"], r"device='cuda' was asked for, but torch sees no CUDA"))


def _one_line_error(capsys, command="train"):
    err = capsys.readouterr().err
    assert err.startswith(f"minivision {command}: error:"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("args, message", CLI_CASES, ids=lambda v: " ".join(v)[:30])
def test_cli_rejects_before_writing_anything(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), *args]) == 2
    err = _one_line_error(capsys)
    assert re.search(message, err), f"{message!r} not in {err!r}"
    assert not (out / "config.json").exists()  # nothing written: the error came first


def test_cli_out_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["train", *TINY, "--out", str(tmp_path / "f")]) == 2
    assert re.search(r"--out .*f is a file, not a folder", _one_line_error(capsys))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One tiny finished CLI run to resume from."""
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "8"], r"batch_size 16 in the checkpoint, 8 now.*--resume-anyway"),
    (["--seed", "1"], r"seed 0 in the checkpoint, 1 now"),
    (["--augmentation", "none"], r"augmentation 'standard' in the checkpoint, 'none' now"),
    (["--dataset", "builtin_distorted"], r"dataset_name 'builtin' in the checkpoint, "
                                         r"'builtin_distorted' now"),
    (["--model", "vit_micro_patch4_32"], r"holds a different model .*pos_embed is \(1, 17, 64\)"),
])
def test_cli_resume_with_other_settings(cli_run, capsys, args, message):
    config = (cli_run / "config.json").read_text()
    assert main(["train", *TINY, "--epochs", "2", "--out", str(cli_run), "--resume", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the banner
    assert err.startswith("minivision train: error:") and re.search(message, err), err
    assert (cli_run / "config.json").read_text() == config  # a resume never rewrites it


def test_cli_resume_anyway_accepts_the_change(cli_run):  # after the cases above: it resumes
    assert main(["train", *TINY, "--epochs", "2", "--out", str(cli_run), "--resume",
                 "--batch-size", "8", "--resume-anyway"]) == 0


def test_cli_empty_image_folder_split(tmp_path, capsys):
    for split in ("train", "test"):
        (tmp_path / "cifar10-jpeg" / split / "cat").mkdir(parents=True)
    assert main(["train", *TINY, "--dataset", "cifar10", "--data-root", str(tmp_path),
                 "--out", str(tmp_path / "run")]) == 2
    assert re.search(r"Found no valid file for the classes cat.*--dataset cifar10",
                     _one_line_error(capsys))


# --- minivision assignment ------------------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    ('{"a": 1}', r"cannot process .*bad.ipynb: .*missing a key: cells.*Jupyter notebook"),
    ("[1, 2]", r"cannot process .*bad.ipynb: AttributeError.*Jupyter notebook"),
    ('{"cells": 5, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     r"cannot process .*bad.ipynb: .*Jupyter notebook \(.ipynb, nbformat 4\)"),
])
def test_assignment_on_json_that_is_not_a_notebook(tmp_path, capsys, content, message):
    (tmp_path / "bad.ipynb").write_text(content)
    code = main(["assignment", str(tmp_path / "bad.ipynb"), "--out", str(tmp_path / "out")])
    err = _one_line_error(capsys, "assignment")
    assert code != 0 and re.search(message, err), err


def test_unknown_command(capsys):
    assert main(["trian"]) == 2
    assert "minivision: unknown command 'trian'" in capsys.readouterr().err

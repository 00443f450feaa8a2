"""pick_amp: the precision rule (bf16 from compute capability 8, fp16 + scaler below, none on CPU/MPS).

The capability is mocked: CI has no GPU, and the rule must hold for GPUs we do not own.
"""
import warnings

import pytest
import torch

from minivision.training import TrainConfig, pick_amp
from minivision.training.trainer import _amp_dtype

# (GPU, compute capability, what the rule must choose): from NVIDIA's capability table
GPUS = [("V100", (7, 0), "fp16"), ("T4", (7, 5), "fp16"), ("A100", (8, 0), "bf16"),
        ("A10G", (8, 6), "bf16"), ("L4", (8, 9), "bf16"), ("H100", (9, 0), "bf16"),
        ("B200", (10, 0), "bf16"), ("P100", (6, 0), "fp16")]


@pytest.mark.parametrize("name, capability, expected", GPUS)
def test_pick_amp_follows_the_compute_capability(monkeypatch, name, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert pick_amp("cuda") == expected
    assert pick_amp(torch.device("cuda", 0)) == expected


@pytest.mark.parametrize("device", ["cpu", "mps", torch.device("cpu")])
def test_pick_amp_is_none_off_cuda(device):
    assert pick_amp(device) is None


def test_auto_is_the_default_and_resolves_through_pick_amp(monkeypatch):
    assert TrainConfig().amp == "auto"
    assert _amp_dtype("auto", torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert _amp_dtype("auto", torch.device("cuda")) is torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert _amp_dtype("auto", torch.device("cuda")) is torch.bfloat16


def test_bf16_on_a_gpu_without_bf16_names_the_faster_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    with pytest.warns(UserWarning, match=r"Tesla T4.*amp='fp16'"):
        assert _amp_dtype("bf16", torch.device("cuda")) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where bf16 is native
        _amp_dtype("bf16", torch.device("cuda"))


def test_fp16_on_cpu_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        _amp_dtype("fp16", torch.device("cpu"))

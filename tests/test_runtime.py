"""minivision.runtime: the one home of the seed, device, precision and progress-bar helpers."""
import random

import numpy as np
import pytest
import torch

from minivision import lesson, runtime

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu vme sse2 avx512f avx512_bf16 amx_tile
"""


def test_the_cpu_is_read_from_cpuinfo_and_named_in_the_hardware_line(monkeypatch):
    monkeypatch.setattr(runtime, "_cpuinfo", lambda: CPUINFO)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    monkeypatch.setattr(lesson, "mps_available", lambda: False)
    assert runtime.cpu_name() == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
    assert runtime.cpu_has_native_bf16()
    line = lesson.hardware()  # lesson.py reads the machine through runtime, not on its own
    assert line.startswith("cpu: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (")
    assert line.endswith(f"| torch {torch.__version__}")


def test_without_cpuinfo_the_name_falls_back_and_bf16_is_not_assumed(monkeypatch):
    monkeypatch.setattr(runtime, "_cpuinfo", lambda: "")
    monkeypatch.setattr(runtime.platform, "processor", lambda: "")
    monkeypatch.setattr(runtime.platform, "machine", lambda: "arm64")
    assert runtime.cpu_name() == "arm64"
    assert not runtime.cpu_has_native_bf16()
    monkeypatch.setattr(runtime, "_cpuinfo", lambda: CPUINFO.replace(" avx512_bf16 amx_tile", ""))
    assert not runtime.cpu_has_native_bf16()


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    runtime.seed_everything(3)
    first = draw()
    runtime.seed_everything(3)
    assert draw() == first
    runtime.seed_everything(4)
    assert draw() != first


def test_asking_for_a_missing_mps_names_the_fix(monkeypatch):
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    with pytest.raises(ValueError, match="use 'cpu'"):
        runtime.pick_device("mps")
    assert runtime.pick_amp("cpu") is None


def test_the_lessons_import_paths_give_the_same_objects():
    """The lessons import these from minivision.training; the objects live in their new homes,
    and the old module minivision.training.utils is gone (no second copy to drift)."""
    import importlib

    from minivision import training
    from minivision.models import count_parameters
    from minivision.training import wrappers

    assert training.pick_device is runtime.pick_device and training.pick_amp is runtime.pick_amp
    assert training.seed_everything is runtime.seed_everything
    assert training.count_parameters is count_parameters
    assert training.unwrap_model is wrappers.unwrap_model
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("minivision.training.utils")

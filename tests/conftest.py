import os

import matplotlib
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _seed_and_threads():
    """Every test starts from the same random state, on the CPU's two cores."""
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))

import os

import matplotlib
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
matplotlib.use("Agg")


# Under pytest-xdist (`make test` runs two workers on the two cores) each worker gets one thread:
# two workers of two threads each on two cores run several times slower than one thread each.
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    """Every test starts from the same random state, on its share of the CPU's two cores."""
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)

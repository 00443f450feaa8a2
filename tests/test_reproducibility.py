"""Same seed, same run: two `minivision train --seed S` runs give the same metrics and weights,
and a run resumed mid-epoch with DataLoader workers ends where an uninterrupted one does (CPU)."""
import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from minivision.cli import main
from minivision.training import fit, load_checkpoint

from test_training import NoisyDataset, tiny_data, tiny_vit

TINY = ["--train-samples", "32", "--test-samples", "16", "--batch-size", "8", "--epochs", "1",
        "--no-progress"]


def _assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def test_two_seeded_cli_runs_are_identical(tmp_path):
    runs = []
    for i, noise in enumerate([11, 12345]):
        torch.manual_seed(noise)  # a new process starts from another random state
        assert main(["train", *TINY, "--seed", "3", "--out", str(tmp_path / str(i))]) == 0
        records = json.loads((tmp_path / str(i) / "metrics.json").read_text())
        runs.append(([{k: v for k, v in r.items() if "time" not in k and k != "images_per_s"}
                      for r in records], load_checkpoint(tmp_path / str(i) / "last.pt")["model"]))
    assert runs[0][0] == runs[1][0]  # every metric of every epoch
    _assert_same_weights(runs[0][1], runs[1][1])


class StopAt(nn.Module):
    """The model, with a Ctrl-C in the main process before forward number ``stop_at``."""

    def __init__(self, inner, stop_at=None):
        super().__init__()
        self.inner, self.stop_at, self.calls = inner, stop_at, 0

    def forward(self, x):
        self.calls += 1
        if self.stop_at is not None and self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.inner(x)


def _run(out, *, stop_at=None, resume=None):
    torch.manual_seed(5)  # the initial weights
    model = StopAt(tiny_vit(dropout=0.1), stop_at)
    # NoisyDataset draws from the torch generator of the worker that loads the item
    loader = DataLoader(NoisyDataset(tiny_data(n=48)), batch_size=8, shuffle=True, num_workers=2)
    fit(model, loader, epochs=2, lr=2e-3, out=str(out), resume=resume, progress=False, seed=4)
    return model.state_dict()


@pytest.mark.slow
def test_mid_epoch_resume_with_two_workers_is_bitwise_exact(tmp_path):
    reference = _run(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):  # in step 9: 8 steps done, batch 2 of epoch 2
        _run(tmp_path / "cut", stop_at=9)
    position = load_checkpoint(tmp_path / "cut" / "last.pt")["position"]
    assert (position["step"], position["batch"]) == (8, 2)
    _assert_same_weights(reference, _run(tmp_path / "cut", resume=True))

"""fit under torchrun: two CPU processes (gloo) train a tiny model and end with the same weights."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")

SCRIPT = textwrap.dedent("""
    import os, sys
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from minivision import VisionTransformer
    from minivision.training import fit

    out = sys.argv[1]
    torch.set_num_threads(1)
    torch.manual_seed(int(os.environ["RANK"]))  # different initial weights: DDP must sync them
    model = VisionTransformer(image_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                              num_classes=4)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(40, 3, 16, 16, generator=g), torch.randint(0, 4, (40,), generator=g))
    history = fit(model, DataLoader(data, batch_size=8, shuffle=True),
                  test_loader=DataLoader(data, batch_size=16), epochs=2, device="cpu",
                  progress=False, out=os.path.join(out, "run"))
    rank = int(os.environ["RANK"])
    torch.save({"model": model.state_dict(), "steps": history[-1]["step"],
                "test_top1": history[-1]["test_top1"],
                "initialized": torch.distributed.is_initialized()}, os.path.join(out, f"rank{rank}.pt"))
""")


def torchrun_two_processes(script_text: str, tmp_path: Path, *, timeout: float) -> None:
    """Run ``script_text`` as two CPU processes under torchrun, with ``tmp_path`` as its argument."""
    script = tmp_path / "script.py"
    script.write_text(script_text)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    result = subprocess.run(
        [TORCHRUN, "--standalone", "--nproc_per_node=2", str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


@pytest.mark.skipif(not os.path.exists(TORCHRUN), reason="torchrun is not installed")
def test_torchrun_two_cpu_processes_stay_in_sync(tmp_path):
    torchrun_two_processes(SCRIPT, tmp_path, timeout=180)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, tensor in rank0["model"].items():
        assert torch.equal(tensor, rank1["model"][name]), f"{name} differs between the ranks"
    # 40 images, 2 processes, batches of 8: 20 per process, 3 steps per epoch, 2 epochs
    assert rank0["steps"] == rank1["steps"] == 6
    assert rank0["test_top1"] == rank1["test_top1"]  # metrics summed over both shards
    assert not rank0["initialized"] and not rank1["initialized"]  # fit tore the group down
    # only rank 0 wrote the checkpoint, and it holds the synced weights
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["last.pt", "metrics.json", "prev.pt"]
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    for name, tensor in rank0["model"].items():
        assert torch.equal(tensor, saved[name])


EMPTY_SHARD = textwrap.dedent("""
    import os, sys
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from minivision import VisionTransformer
    from minivision.training import evaluate

    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    torch.manual_seed(0)  # the same model on both ranks
    model = VisionTransformer(image_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                              num_classes=4)
    g = torch.Generator().manual_seed(0)
    images, labels = torch.randn(12, 3, 16, 16, generator=g), torch.randint(0, 4, (12,), generator=g)
    # rank 0 holds all 12 test images, rank 1 none: its loader yields no batch at all
    mine = slice(0, 12) if rank == 0 else slice(0, 0)
    loader = DataLoader(TensorDataset(images[mine], labels[mine]), batch_size=5)
    metrics = evaluate(model, loader, device="cpu", amp=None)
    alone = None
    if rank == 0:  # the same model on all 12 images, no reduction: the reference
        torch.distributed.destroy_process_group()
        alone = evaluate(model, DataLoader(TensorDataset(images, labels), batch_size=5),
                         device="cpu", amp=None)
    torch.save({"metrics": metrics, "alone": alone}, os.path.join(sys.argv[1], f"rank{rank}.pt"))
""")


@pytest.mark.skipif(not os.path.exists(TORCHRUN), reason="torchrun is not installed")
def test_evaluate_with_an_empty_shard_neither_hangs_nor_miscounts(tmp_path):
    """A process whose evaluation shard has no batch (more processes than test batches) still
    joins the reduction; before, it skipped it and the other process waited forever."""
    torchrun_two_processes(EMPTY_SHARD, tmp_path, timeout=120)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0["metrics"] == rank1["metrics"]  # both ranks report the sum over both shards
    assert rank0["metrics"].keys() == rank0["alone"].keys() == {"loss", "top1", "top5"}
    for name, value in rank0["alone"].items():
        assert abs(rank0["metrics"][name] - value) < 1e-6, name

"""minivision.training: fit, schedule, losses, metrics, optimizer groups, checkpoints, resume."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from minivision import VisionTransformer
from minivision.training import (CheckpointError, History, TrainConfig, build_scheduler,
                                 classification_loss, count_parameters, evaluate, fit,
                                 load_checkpoint, param_groups_weight_decay, plot_history,
                                 save_checkpoint, topk_accuracy, unwrap_model, warmup_cosine)
from minivision.training.optim import build_optimizer


def tiny_vit(num_classes=4, **kw):
    return VisionTransformer(image_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                             num_classes=num_classes, **kw)


def tiny_data(n=48, num_classes=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 3, 16, 16, generator=g),
                         torch.randint(0, num_classes, (n,), generator=g))


class NoisyDataset(Dataset):
    """Adds noise from the global torch RNG on every read: like a random augmentation."""

    def __init__(self, base, interrupt_at=None):
        self.base, self.reads, self.interrupt_at = base, 0, interrupt_at

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.reads += 1
        if self.interrupt_at is not None and self.reads > self.interrupt_at:
            raise KeyboardInterrupt  # Ctrl-C while loading a batch
        x, y = self.base[i]
        return x + 0.1 * torch.randn_like(x), y


def test_overfits_one_batch():
    torch.manual_seed(0)
    data = tiny_data(n=16)
    model = tiny_vit()
    history = fit(model, DataLoader(data, batch_size=16, shuffle=True), epochs=25, lr=5e-3,
                  warmup_epochs=0, weight_decay=0.0, progress=False)
    assert history[-1]["train_acc"] == 1.0
    assert evaluate(model, DataLoader(data, batch_size=8))["top1"] == 1.0  # where fit left it
    with pytest.raises(ValueError, match="model's weights are on .* move the model first"):
        evaluate(model, DataLoader(data, batch_size=8), device="meta")


@pytest.mark.parametrize("step", [0, 1, 4, 5, 6, 10, 19, 20, 25])
def test_warmup_cosine_formula(step):
    warmup, total, r = 5, 20, 0.1
    if step < warmup:
        expected = (step + 1) / warmup
    else:
        p = min(1.0, (step - warmup) / (total - warmup))
        expected = r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p))
    got = warmup_cosine(step, warmup_steps=warmup, total_steps=total, min_ratio=r)
    assert got == pytest.approx(expected, rel=1e-12)


def test_lambda_lr_follows_warmup_cosine():
    param = nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([param], lr=0.5)
    scheduler = build_scheduler(optimizer, warmup_steps=3, total_steps=12, min_ratio=0.02)
    for step in range(15):
        expected = 0.5 * warmup_cosine(step, warmup_steps=3, total_steps=12, min_ratio=0.02)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12)
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * 0.02)


def test_topk_accuracy_against_direct_count():
    torch.manual_seed(0)
    logits, targets = torch.randn(50, 10), torch.randint(0, 10, (50,))
    got = topk_accuracy(logits, targets, ks=(1, 3, 5))
    ranks = (logits > logits.gather(1, targets[:, None])).sum(1)  # classes scored above the label
    for k in (1, 3, 5):
        assert got[k] == pytest.approx((ranks < k).float().mean().item())
    soft = F.one_hot(targets, 10).float() * 0.7 + 0.03  # soft targets: the label is the argmax
    assert topk_accuracy(logits, soft, ks=(1,))[1] == got[1]


def test_bce_on_one_hot_matches_formula():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 5), torch.randint(0, 5, (6,))
    y = F.one_hot(targets, 5).float()
    s = torch.sigmoid(logits)
    manual = -(y * torch.log(s) + (1 - y) * torch.log(1 - s)).mean()
    torch.testing.assert_close(classification_loss(logits, targets, kind="bce"), manual)


def test_label_smoothing_matches_torch():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 5), torch.randint(0, 5, (6,))
    expected = F.cross_entropy(logits, targets, label_smoothing=0.1)
    torch.testing.assert_close(classification_loss(logits, targets, label_smoothing=0.1), expected)
    # the same smoothing written out: q = 0.9 * one_hot + 0.1 / K
    q = 0.9 * F.one_hot(targets, 5) + 0.1 / 5
    manual = -(q * F.log_softmax(logits, dim=1)).sum(1).mean()
    torch.testing.assert_close(classification_loss(logits, targets, label_smoothing=0.1), manual)


def test_no_weight_decay_on_1d_params_and_embeddings():
    model = tiny_vit()
    groups = param_groups_weight_decay(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in groups[0]["params"]}
    plain = {names[id(p)] for p in groups[1]["params"]}
    assert groups[0]["weight_decay"] == 0.05 and groups[1]["weight_decay"] == 0.0
    expected_plain = {n for n, p in model.named_parameters()
                      if p.ndim == 1 or n.endswith(("pos_embed", "cls_token"))}
    assert plain == expected_plain
    assert decayed == {n for n, _ in model.named_parameters()} - expected_plain
    assert "encoder.blocks.0.attn.qkv.weight" in decayed and "head.bias" in plain
    optimizer = build_optimizer(groups, TrainConfig())
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]


def _run(out, dataset, *, epochs=3, resume=None, checkpoint_every=None):
    torch.manual_seed(123)  # the model's initial weights
    model = tiny_vit(dropout=0.1)  # dropout: the global RNG must be restored too
    loader = DataLoader(dataset, batch_size=8, shuffle=True)  # 48 / 8 = 6 steps per epoch
    history = fit(model, loader, epochs=epochs, lr=2e-3, warmup_epochs=0.5, out=str(out),
                  resume=resume, checkpoint_every=checkpoint_every, progress=False, seed=7)
    return model, history


def test_resume_mid_epoch_is_bitwise_exact(tmp_path):
    base = tiny_data()
    reference, ref_history = _run(tmp_path / "full", NoisyDataset(base))
    # interrupted while loading batch 4 of epoch 2 (step 10): 9 steps done, reads 8*9 + some
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", NoisyDataset(base, interrupt_at=8 * 9 + 3), checkpoint_every=4)
    last = load_checkpoint(tmp_path / "cut" / "last.pt")
    prev = load_checkpoint(tmp_path / "cut" / "prev.pt")
    assert (last["position"]["step"], last["position"]["batch"]) == (9, 3)  # the interrupt
    assert (prev["position"]["step"], prev["position"]["batch"]) == (8, 2)  # every 4 steps
    for ckpt in ("last.pt", "prev.pt"):
        resumed, history = _run(tmp_path / f"resumed-{ckpt}", NoisyDataset(base),
                                resume=str(tmp_path / "cut" / ckpt))
        for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
            assert torch.equal(a, b), f"{name} differs after resuming from {ckpt}"
        assert [r["train_loss"] for r in history] == [r["train_loss"] for r in ref_history]


def test_resume_true_reads_out_last(tmp_path):
    base = tiny_data()
    reference, _ = _run(tmp_path / "a", NoisyDataset(base), epochs=2)
    with pytest.raises(KeyboardInterrupt):  # stopped at the start of epoch 2 (step 6)
        _run(tmp_path / "b", NoisyDataset(base, interrupt_at=8 * 6 + 1), epochs=2)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["position"]["step"] == 6
    resumed, history = _run(tmp_path / "b", NoisyDataset(base), epochs=2, resume=True)
    assert len(history) == 2
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_truncated_checkpoint_raises_and_previous_survives(tmp_path):
    model = tiny_vit()
    path, previous = tmp_path / "last.pt", tmp_path / "prev.pt"
    save_checkpoint(path, {"model": model.state_dict(), "step": 1}, previous=previous)
    save_checkpoint(path, {"model": model.state_dict(), "step": 2}, previous=previous)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)  # a write cut short
    with pytest.raises(CheckpointError, match="last.pt.*truncated or corrupt"):
        load_checkpoint(path)
    state = load_checkpoint(previous)
    assert state["step"] == 1
    for name, tensor in model.state_dict().items():
        assert torch.equal(state["model"][name], tensor)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "prev.pt"]  # no temp files
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_has_no_wrapper_prefixes(tmp_path):
    model = tiny_vit()
    compiled = torch.compile(model)  # compiles lazily: building it is cheap
    assert any(k.startswith("_orig_mod.") for k in compiled.state_dict())
    assert unwrap_model(compiled) is model
    assert set(unwrap_model(compiled).state_dict()) == set(model.state_dict())


def test_fit_checkpoint_keys_are_the_model_keys(tmp_path):
    model = tiny_vit()
    # out as a Path (not only a str): the checkpoint must still load with weights_only=True
    fit(model, DataLoader(tiny_data(n=16), batch_size=8), epochs=1, out=tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "last.pt")
    assert set(state["model"]) == set(model.state_dict())
    assert TrainConfig.from_dict(state["config"]).epochs == 1


def test_history_json_best_and_plot(tmp_path):
    history = History([{"epoch": 1, "train_loss": 2.0, "test_top1": 0.3},
                       {"epoch": 2, "train_loss": 1.0, "test_top1": 0.6},
                       {"epoch": 3, "train_loss": 1.5, "test_top1": 0.5}])
    assert history.best("test_top1")["epoch"] == 2
    assert history.best("train_loss")["epoch"] == 2
    assert History.from_json(history.to_json(tmp_path / "m.json")).records == history.records
    assert history["test_top1"] == [0.3, 0.6, 0.5]
    fig = plot_history(history)
    assert len(fig.axes) == 2


def test_config_errors():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainConfig(optimizer="adam")
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig().replace(learning_rate=1.0)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="fp16"):
        fit(tiny_vit(), DataLoader(tiny_data(n=8), batch_size=8), amp="fp16", device="cpu",
            progress=False)


def test_no_trainable_parameters_is_a_clear_error():
    model = tiny_vit().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(model, DataLoader(tiny_data(n=8), batch_size=8), progress=False)


def test_count_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    assert count_parameters(model) == 3 * 4 + 4 + 4 * 2 + 2
    assert count_parameters(model, trainable_only=True) == 4 * 2 + 2


def test_max_steps_stops_mid_epoch_and_shrinks_the_schedule():
    model = tiny_vit()
    history = fit(model, DataLoader(tiny_data(), batch_size=8, shuffle=True), epochs=5, max_steps=3,
                  warmup_epochs=0, lr=1e-3, min_lr=1e-5, progress=False)
    assert len(history) == 1 and history[-1]["step"] == 3
    # the lr of the last step: the cosine over 3 steps, at step 2
    expected = 1e-3 * warmup_cosine(2, warmup_steps=0, total_steps=3, min_ratio=1e-2)
    assert history[-1]["lr"] == pytest.approx(expected)


def test_soft_targets_with_bce():
    x, y = tiny_data(n=16)[:]
    soft = 0.8 * F.one_hot(y, 4).float() + 0.05  # rows sum to 1, like CutMix's
    model = tiny_vit()
    history = fit(model, DataLoader(TensorDataset(x, soft), batch_size=8), epochs=2, loss="bce",
                  label_smoothing=0.1, progress=False,
                  test_loader=DataLoader(TensorDataset(x, y), batch_size=8))
    assert all(math.isfinite(r["train_loss"]) for r in history)
    assert 0.0 <= history[-1]["test_top1"] <= 1.0


def test_bf16_on_a_cpu_without_native_bf16_warns(monkeypatch):
    from minivision.training import trainer

    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="without native bfloat16"):
        assert trainer._amp_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    assert trainer._amp_dtype(None, torch.device("cpu")) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_pick_device():
    from minivision.training import pick_device

    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        pick_device("cuda")


def test_on_epoch_end_sees_each_record_and_the_plain_model():
    seen = []

    def watch(record, model):
        seen.append((record["epoch"], type(model).__name__, model.training))
        record["head_norm"] = model.head.weight.norm().item()  # extra metrics are kept

    model = tiny_vit()
    history = fit(model, DataLoader(tiny_data(n=16), batch_size=8), epochs=2, progress=False,
                  on_epoch_end=watch)
    assert [epoch for epoch, _, _ in seen] == [1, 2]
    assert {name for _, name, _ in seen} == {"VisionTransformer"}
    assert history[-1]["head_norm"] == model.head.weight.norm().item()


def test_a_fresh_run_never_leaves_an_older_runs_prev_beside_its_last(tmp_path):
    loader = DataLoader(tiny_data(n=16), batch_size=8)
    fit(tiny_vit(), loader, epochs=2, out=tmp_path, progress=False, seed=1)  # prev.pt: run 1's
    with pytest.warns(UserWarning, match=r"holds the checkpoints of an earlier run \(last.pt, "
                                         r"prev.pt\).*pass resume=True"):
        fit(tiny_vit(), loader, epochs=1, out=tmp_path, progress=False, seed=2)
    assert load_checkpoint(tmp_path / "last.pt")["identity"]["seed"] == 2
    assert not (tmp_path / "prev.pt").exists()  # not run 1's, mixed in with run 2's
    assert not (tmp_path / ".lock").exists()  # released and removed at the end

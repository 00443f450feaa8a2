"""Tasks: fit trains any task. The masking + rotation pretext task resumes bit for bit, its loss
is masked_rotation_loss, the default task is the hand-written classification loop, and a task
written here (a regression) trains through the same loop."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minivision import VisionTransformer
from minivision.ssl import (MaskedRotationTask, MaskedRotationViT, mask_and_rotate,
                            masked_rotation_loss)
from minivision.training import (Task, TaskOutput, evaluate, fit, load_checkpoint,
                                 param_groups_weight_decay, task_generator, warmup_cosine)

from test_training import NoisyDataset, tiny_data, tiny_vit

TIMING = ("epoch_time", "images_per_s")  # the only numbers two identical runs may differ in


def tiny_model_m(dropout=0.0):
    """Model M on 16x16 images of 4x4 patches: N = 16 patches, as in lesson 08."""
    vit = VisionTransformer(image_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2,
                            num_classes=4, dropout=dropout)
    return MaskedRotationViT(vit)


def unlabelled_images(n=32, seed=3):
    images = torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    return TensorDataset(images, torch.zeros(n, dtype=torch.long))  # labels unused


def _pretrain(out, dataset, *, resume=None, checkpoint_every=None):
    torch.manual_seed(11)  # the initial weights
    model = tiny_model_m(dropout=0.1)  # dropout: the global RNG must come back too
    loader = DataLoader(dataset, batch_size=8, shuffle=True)  # 32 / 8 = 4 steps per epoch
    history = fit(model, loader, task=MaskedRotationTask(patch_size=4), epochs=3, lr=2e-3,
                  warmup_epochs=0.5, out=str(out), resume=resume,
                  checkpoint_every=checkpoint_every, progress=False, seed=5)
    return model, history


def test_masked_rotation_resume_is_bitwise_exact(tmp_path):
    base = unlabelled_images()
    reference, ref_history = _pretrain(tmp_path / "full", NoisyDataset(base))
    # interrupted while loading batch 3 of epoch 2 (step 7): 6 steps done
    with pytest.raises(KeyboardInterrupt):
        _pretrain(tmp_path / "cut", NoisyDataset(base, interrupt_at=8 * 6 + 3),
                  checkpoint_every=3)
    last = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert (last["position"]["step"], last["position"]["batch"]) == (6, 2)  # mid-epoch
    resumed, history = _pretrain(tmp_path / "resumed", NoisyDataset(base),
                                 resume=str(tmp_path / "cut" / "last.pt"))
    for name, weight in reference.state_dict().items():
        assert torch.equal(weight, resumed.state_dict()[name]), f"{name} differs after resuming"
    assert len(history) == len(ref_history) == 3
    for got, expected in zip(history, ref_history):
        assert {k: v for k, v in got.items() if k not in TIMING} == \
               {k: v for k, v in expected.items() if k not in TIMING}
    assert {"train_acc", "train_pixel_mse", "train_rotation_loss"} <= set(history[-1])


def test_the_corruption_changes_with_epoch_and_batch_and_only_with_them():
    images = torch.randn(8, 3, 16, 16)
    draws = {key: mask_and_rotate(images, patch_size=4, generator=task_generator(*key)).masked
             for key in [(5, 0, 0, 0), (5, 0, 0, 1), (5, 0, 1, 0), (6, 0, 0, 0)]}
    again = mask_and_rotate(images, patch_size=4, generator=task_generator(5, 0, 0, 0)).masked
    assert torch.equal(again, draws[(5, 0, 0, 0)])
    keys = list(draws)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not torch.equal(draws[a], draws[b]), f"{a} and {b} mask the same patches"
    evaluation = task_generator(5, 0, 0, 0, evaluation=True)
    assert not torch.equal(mask_and_rotate(images, patch_size=4, generator=evaluation).masked,
                           draws[(5, 0, 0, 0)])


def test_task_loss_is_masked_rotation_loss_by_hand():
    torch.manual_seed(0)
    model = tiny_model_m()
    images = torch.randn(6, 3, 16, 16)
    task = MaskedRotationTask(patch_size=4, pixel_weight=0.5)
    outputs, corrupted = task.forward(model, (images, torch.zeros(6)),
                                      generator=torch.Generator().manual_seed(9))
    got = task.loss(outputs, corrupted)
    by_hand = mask_and_rotate(images, patch_size=4, generator=torch.Generator().manual_seed(9))
    assert torch.equal(corrupted.inputs, by_hand.inputs)
    rotation_logits, patches = model(by_hand.inputs)
    expected = masked_rotation_loss(rotation_logits, patches, by_hand, pixel_weight=0.5)
    torch.testing.assert_close(got.loss, expected["loss"])
    torch.testing.assert_close(got.metrics["pixel_mse"], expected["pixel_loss"])
    assert got.count == 6
    assert got.correct.item() == pytest.approx(6 * expected["rotation_acc"].item())
    # and the formula itself: CE on the angle + 0.5 * MSE on the masked pixels only
    formula = F.cross_entropy(rotation_logits, by_hand.rotation) + 0.5 * (
        (patches - by_hand.targets)[by_hand.masked].square().mean())
    torch.testing.assert_close(got.loss, formula)


def test_fit_trains_on_the_loss_the_task_defines():
    """One step per epoch over the whole set: each epoch's numbers are those of the model as
    the epoch began, on the batch corrupted with the generator of (seed, rank 0, epoch,
    batch 0)."""
    torch.manual_seed(2)
    model = tiny_model_m()
    snapshots = [copy.deepcopy(model)]  # the model as each epoch begins
    data = unlabelled_images(n=16)
    task = MaskedRotationTask(patch_size=4)
    history = fit(model, DataLoader(data, batch_size=16), task=task, epochs=2, seed=4,
                  progress=False, test_loader=DataLoader(data, batch_size=8),
                  on_epoch_end=lambda record, net: snapshots.append(copy.deepcopy(net)))
    images = data.tensors[0]
    for epoch, record in enumerate(history):
        corrupted = mask_and_rotate(images, patch_size=4,
                                    generator=task_generator(4, 0, epoch, 0))
        with torch.no_grad():
            expected = masked_rotation_loss(*snapshots[epoch](corrupted.inputs), corrupted)
        assert record["train_loss"] == pytest.approx(expected["loss"].item(), rel=1e-5)
        assert record["train_pixel_mse"] == pytest.approx(expected["pixel_loss"].item(),
                                                          rel=1e-5)
        assert record["train_acc"] == pytest.approx(expected["rotation_acc"].item())
    # evaluation: the test images corrupted by (seed 0, batch index), the same at every call
    zeros = [mask_and_rotate(images[i * 8:(i + 1) * 8], patch_size=4,
                             generator=task_generator(0, 0, 0, i, evaluation=True))
             for i in range(2)]
    zero_mse = torch.cat([z.targets[z.masked] for z in zeros]).square().mean()
    assert history[0]["test_zero_mse"] == pytest.approx(zero_mse.item(), rel=1e-5)
    again = evaluate(model, DataLoader(data, batch_size=8), task=task)
    assert again == {k[5:]: v for k, v in history[-1].items() if k.startswith("test_")}


def test_default_task_is_the_hand_written_classification_loop():
    """fit's defaults against the loop written out: the same permutation per epoch
    (DistributedSampler's: randperm seeded by seed + epoch), AdamW without decay on 1-D
    parameters, warmup + cosine, cross-entropy with label smoothing."""
    seed, lr, epochs, batch_size = 7, 2e-3, 2, 8
    data = tiny_data()  # 48 samples: 6 steps per epoch
    torch.manual_seed(0)
    model = tiny_vit()
    reference = copy.deepcopy(model)
    history = fit(model, DataLoader(data, batch_size=batch_size, shuffle=True), epochs=epochs,
                  lr=lr, warmup_epochs=0.5, label_smoothing=0.1, seed=seed, progress=False)

    optimizer = torch.optim.AdamW(param_groups_weight_decay(reference, 0.05), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(
        step, warmup_steps=3, total_steps=12, min_ratio=1e-5 / lr))
    images, labels = data.tensors
    for epoch in range(epochs):
        order = torch.randperm(48, generator=torch.Generator().manual_seed(seed + epoch))
        loss_sum, hits = torch.zeros(()), 0
        for step in range(6):
            chosen = order[step * batch_size:(step + 1) * batch_size]
            logits = reference(images[chosen])
            loss = F.cross_entropy(logits, labels[chosen], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach() * batch_size
            hits += (logits.argmax(1) == labels[chosen]).sum().item()
        assert history[epoch]["train_loss"] == pytest.approx((loss_sum / 48).item(), rel=1e-6)
        assert history[epoch]["train_acc"] == pytest.approx(hits / 48)
    for name, weight in reference.state_dict().items():
        assert torch.equal(weight, model.state_dict()[name]), f"{name} differs"


class RegressionTask(Task):
    """y = f(x) with a mean squared error; no accuracy, a mean absolute error beside."""

    def forward(self, model, batch, *, generator=None):
        x, y = batch
        return model(x), y  # (B, 1), (B, 1)

    def loss(self, prediction, y):
        loss = F.mse_loss(prediction.float(), y)
        mae = (prediction.detach() - y).abs().mean()
        return TaskOutput(loss=loss, count=len(y), metrics={"mae": mae})


def test_a_custom_task_trains_through_fit(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    true_w = torch.tensor([[2.0], [-1.0], [0.5]])
    data = TensorDataset(x, x @ true_w + 0.3)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    history = fit(model, DataLoader(data, batch_size=16, shuffle=True), task=RegressionTask(),
                  test_loader=DataLoader(data, batch_size=32), epochs=30, lr=0.1,
                  weight_decay=0.0, warmup_epochs=0, progress=False, out=str(tmp_path))
    assert "train_acc" not in history[0] and "test_top1" not in history[0]
    assert history[-1]["train_loss"] < 1e-3 < history[0]["train_loss"]
    assert history[-1]["test_mae"] < 0.03
    torch.testing.assert_close(model.weight.detach(), true_w.T, atol=0.03, rtol=0)
    assert load_checkpoint(tmp_path / "last.pt")["position"]["step"] == 30 * 4
    metrics = evaluate(model, DataLoader(data, batch_size=32), task=RegressionTask())
    assert set(metrics) == {"loss", "mae"}

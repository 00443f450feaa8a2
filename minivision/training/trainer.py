"""fit() and evaluate(): a training loop that reads top to bottom in nanoGPT's ``train.py`` order:
setup, model, optimizer, compile, loop, eval, checkpoint.

The same call trains on a laptop CPU, a Colab GPU (AMP, torch.compile) and several GPUs (run the
script under ``torchrun``). Interrupted runs continue exactly: the data order of every epoch is a
function of (seed, epoch), and a checkpoint holds the step, the batch within the epoch and every
random generator, so a resumed run on the CPU ends with the same weights, bit for bit.
"""
import itertools
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import (BatchSampler, DataLoader, DistributedSampler, IterableDataset,
                              RandomSampler, Sampler)

from .checkpoint import get_rng_state, load_checkpoint, save_checkpoint, set_rng_state
from .config import TrainConfig
from .distributed import ShardSampler, all_reduce_sum, setup_distributed, teardown_distributed
from .history import History
from .losses import classification_loss
from .metrics import topk_correct
from .optim import build_optimizer, param_groups_weight_decay
from .schedule import build_scheduler
from .utils import cpu_has_native_bf16, pick_amp, pick_device, seed_everything, tqdm


def fit(model: nn.Module, train_loader: DataLoader, *, test_loader: DataLoader | None = None,
        config: TrainConfig | None = None, on_epoch_end=None, **overrides) -> History:
    """Train ``model`` in place and return its per-epoch :class:`History`.

    Args:
        model: any classifier, images (B, C, H, W) -> logits (B, K).
        train_loader: yields (images, targets), targets as indices (B,) or soft (B, K). fit rebuilds
            it around a sampler it controls (same dataset, batch size, collate_fn and workers).
        test_loader: evaluated after every epoch (test_loss, test_top1, test_top5).
        config: a :class:`TrainConfig`; keyword arguments override its fields.
        on_epoch_end: called as ``on_epoch_end(record, model)`` after every epoch (on rank 0),
            with the epoch's record and the plain (uncompiled, unwrapped) model, e.g. to keep
            what a layer does over training. Whatever it adds to ``record`` is kept in the history.

    Returns:
        the History: one dict per epoch (epoch, step, lr, train_loss, train_acc, test_*,
        epoch_time, images_per_s). With ``out`` set, fit also writes out/last.pt, out/prev.pt
        and out/metrics.json.
    """
    config = (config or TrainConfig()).replace(**overrides)
    # --- setup: device, processes, seed, precision -------------------------------------------
    device = pick_device(config.device)
    dist_info = setup_distributed(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    seed_everything(config.seed + dist_info.rank)  # each process draws its own augmentations
    amp_dtype = _amp_dtype(config.amp, device)
    amp_on = amp_dtype is not None
    out = Path(config.out) if config.out is not None else None
    try:
        # --- model -----------------------------------------------------------------------------
        raw_model = model.to(device)  # the plain module: this is what checkpoints hold
        channels_last = config.channels_last
        if channels_last is None:
            channels_last = device.type == "cuda" and _is_cnn(model)
        if channels_last:
            raw_model = raw_model.to(memory_format=torch.channels_last)
        loader, sampler, generator = _controlled_loader(train_loader, config.seed, dist_info)
        steps_per_epoch = len(loader)
        if steps_per_epoch == 0:
            raise ValueError("the train loader yields no batches (empty dataset, or drop_last with "
                             "fewer samples than one batch); use more data or a smaller batch.")
        total_steps = min(config.epochs * steps_per_epoch, config.max_steps or float("inf"))
        # --- optimizer, schedule, loss scaling ----------------------------------------------------
        if config.layer_decay is not None:
            from .finetune import param_groups_lrd

            groups = param_groups_lrd(raw_model, lr=config.lr, layer_decay=config.layer_decay,
                                      weight_decay=config.weight_decay)
        else:
            groups = param_groups_weight_decay(raw_model, config.weight_decay)
        optimizer = build_optimizer(groups, config)
        warmup_steps = min(round(config.warmup_epochs * steps_per_epoch), total_steps)
        scheduler = build_scheduler(optimizer, warmup_steps=warmup_steps, total_steps=total_steps,
                                    min_ratio=config.min_lr / config.lr)
        # fp16 needs loss scaling against underflowing gradients; bf16 has float32's range
        scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        history = History()
        pos = {"epoch": 0, "batch": 0, "step": 0, "sums": _zero_sums(device)}
        if config.resume:
            path = out / "last.pt" if config.resume is True else Path(config.resume)
            ckpt = load_checkpoint(path)
            raw_model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            scaler.load_state_dict(ckpt["scaler"])
            history = History(ckpt["history"])
            pos = ckpt["position"]
            pos["sums"] = {name: value.to(device) for name, value in pos["sums"].items()}
            set_rng_state(ckpt["rng"])
        # --- compile, then wrap for data parallelism (nanoGPT's order) ----------------------------
        model = torch.compile(raw_model) if config.compile else raw_model
        if dist_info.enabled:
            device_ids = [device.index] if device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        eval_model = model.module if dist_info.enabled else model
        if test_loader is not None and dist_info.enabled:
            test_loader = _sharded_loader(test_loader, dist_info)

        def checkpoint(rng):  # only rank 0 writes; the others hold the same weights
            if out is None or not dist_info.is_main:
                return
            state = {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                     "history": history.records, "position": pos, "rng": rng,
                     "config": config.to_dict()}
            save_checkpoint(out / "last.pt", state, previous=out / "prev.pt")

        # --- the loop -----------------------------------------------------------------------------
        rng, updating = get_rng_state(), False
        lr = optimizer.param_groups[0]["lr"]
        try:
            for epoch in range(pos["epoch"], config.epochs):
                if pos["step"] >= total_steps and pos["batch"] == 0:
                    break
                sampler.set_epoch(epoch, skip_batches=pos["batch"])
                generator.manual_seed(config.seed * 10_007 + epoch)  # worker seeds, per epoch
                model.train()
                bar = tqdm(loader, total=steps_per_epoch, initial=pos["batch"], leave=True,
                           desc=f"epoch {epoch + 1}/{config.epochs}",
                           disable=not (config.progress and dist_info.is_main))
                start, sums = time.perf_counter(), pos["sums"]
                for images, targets in bar:
                    images = images.to(device, non_blocking=True)
                    if channels_last and images.ndim == 4:
                        images = images.contiguous(memory_format=torch.channels_last)
                    targets = targets.to(device, non_blocking=True)
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_on):
                        logits = model(images)  # (B, K)
                    loss = classification_loss(logits.float(), targets, kind=config.loss,
                                               label_smoothing=config.label_smoothing)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if config.grad_clip is not None:
                        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                        nn.utils.clip_grad_norm_(raw_model.parameters(), config.grad_clip)
                    lr = optimizer.param_groups[0]["lr"]
                    updating = True  # an interrupt now would leave half-updated weights
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    pos["step"] += 1
                    pos["batch"] += 1
                    sums["loss"] += loss.detach() * len(targets)
                    sums["correct"] += topk_correct(logits.detach(), targets, ks=(1,))[1]
                    sums["count"] += len(targets)
                    rng, updating = get_rng_state(), False
                    if pos["batch"] % 10 == 0 or pos["batch"] == steps_per_epoch:
                        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")
                    if pos["step"] >= total_steps:
                        break
                    if config.checkpoint_every and pos["step"] % config.checkpoint_every == 0 \
                            and pos["batch"] < steps_per_epoch:
                        sums["time"] += time.perf_counter() - start
                        start = time.perf_counter()
                        checkpoint(rng)
                # --- end of epoch: metrics, eval, checkpoint --------------------------------------
                sums["time"] += time.perf_counter() - start
                totals = all_reduce_sum(torch.stack([sums["loss"], sums["correct"], sums["count"]]))
                record = {"epoch": epoch + 1, "step": pos["step"], "lr": lr,
                          "train_loss": (totals[0] / totals[2]).item(),
                          "train_acc": (totals[1] / totals[2]).item(),
                          "epoch_time": sums["time"].item(),
                          "images_per_s": totals[2].item() / max(sums["time"].item(), 1e-9)}
                if test_loader is not None:
                    metrics = evaluate(eval_model, test_loader, device=device, amp=config.amp,
                                       loss=config.loss)
                    record.update({f"test_{k}": v for k, v in metrics.items()})
                    model.train()
                if on_epoch_end is not None and dist_info.is_main:
                    on_epoch_end(record, raw_model)
                    model.train()
                history.append(record)
                bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()
                                 if k in ("train_loss", "train_acc", "test_top1")})
                bar.close()
                pos = {"epoch": epoch + 1, "batch": 0, "step": pos["step"],
                       "sums": _zero_sums(device)}
                rng = get_rng_state()
                checkpoint(rng)
                if out is not None and dist_info.is_main:
                    history.to_json(out / "metrics.json")
        except KeyboardInterrupt:
            if not updating:  # else keep the previous checkpoint: the weights are half-updated
                checkpoint(rng)
            raise
        return history
    finally:
        teardown_distributed(dist_info)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, *, device=None, amp: str | None = "auto",
             loss: str = "ce") -> dict:
    """Loss (without label smoothing), top-1 and top-5 accuracy over a whole loader.

    Args:
        model: images (B, C, H, W) -> logits (B, K).
        loader: yields (images, targets); targets as indices (B,) or soft (B, K).
        device: where to run; default: the device of the model's parameters.
        amp: "auto" (:func:`pick_amp` for the device), None, "bf16" or "fp16": autocast for
            the forward pass.
        loss: "ce" or "bce", as in training.

    Under torchrun with a sharded loader, the sums are added over all processes first.

    Returns:
        {"loss": float, "top1": float, "top5": float}, accuracies in [0, 1].
    """
    model_device = next(itertools.chain(model.parameters(), [torch.empty(0)])).device
    device = model_device if device is None else torch.device(device)
    if device.type != model_device.type:
        raise ValueError(f"evaluate(device={str(device)!r}) but the model's weights are on "
                         f"{model_device}; move the model first (model.to({str(device)!r})) or "
                         "leave device=None to run where the model is.")
    amp_dtype = _amp_dtype(amp, device, warn=False)
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, device=device)  # loss, top-1 hits, top-5 hits, count
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(images)  # (B, K)
        logits = logits.float()
        correct = topk_correct(logits, targets, ks=(1, 5))
        sums[0] += classification_loss(logits, targets, kind=loss) * len(targets)
        sums[1] += correct[1]
        sums[2] += correct[5]
        sums[3] += len(targets)
    model.train(was_training)
    sums = all_reduce_sum(sums)
    if sums[3] == 0:
        raise ValueError("the evaluation loader yields no samples.")
    return {"loss": (sums[0] / sums[3]).item(), "top1": (sums[1] / sums[3]).item(),
            "top5": (sums[2] / sums[3]).item()}


class ResumableSampler(Sampler):
    """A DistributedSampler (order fixed by seed and epoch; one shard per process) that can
    skip the batches an interrupted epoch already trained on."""

    def __init__(self, sampler: DistributedSampler, batch_size: int):
        self.sampler, self.batch_size, self.skip = sampler, batch_size, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.sampler.set_epoch(epoch)  # a new permutation each epoch, the same on every process
        self.skip = skip_batches * self.batch_size

    def __iter__(self):
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


def _controlled_loader(loader: DataLoader, seed: int, dist_info):
    """The same loader, rebuilt around a :class:`ResumableSampler` and a private generator (so
    that starting an epoch does not consume the global random state)."""
    if not isinstance(loader, DataLoader) or loader.batch_size is None:
        raise ValueError("fit needs a torch DataLoader built with batch_size=... (not a custom "
                         f"batch_sampler); got {type(loader).__name__}.")
    if isinstance(loader.dataset, IterableDataset):
        raise ValueError("fit needs a map-style dataset (with __len__ and __getitem__) to fix the "
                         "order of every epoch; got an IterableDataset.")
    if not isinstance(loader.batch_sampler, BatchSampler):
        raise ValueError("fit rebuilds the loader's sampler to make resuming exact; build the "
                         "loader with batch_size=..., not a custom batch_sampler.")
    shuffle = isinstance(loader.sampler, RandomSampler) or getattr(loader.sampler, "shuffle", False)
    dist_sampler = DistributedSampler(loader.dataset, num_replicas=dist_info.world_size,
                                      rank=dist_info.rank, shuffle=shuffle, seed=seed)
    sampler = ResumableSampler(dist_sampler, loader.batch_size)
    generator = torch.Generator()
    rebuilt = DataLoader(
        loader.dataset, batch_size=loader.batch_size, sampler=sampler,
        num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
        drop_last=loader.drop_last, worker_init_fn=loader.worker_init_fn, generator=generator,
        persistent_workers=loader.persistent_workers,
        prefetch_factor=loader.prefetch_factor if loader.num_workers > 0 else None,
    )
    return rebuilt, sampler, generator


def _sharded_loader(loader: DataLoader, dist_info) -> DataLoader:
    """Each process evaluates every world_size-th sample; evaluate() adds the sums."""
    sampler = ShardSampler(len(loader.dataset), rank=dist_info.rank,
                           world_size=dist_info.world_size)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      pin_memory=loader.pin_memory)


def _zero_sums(device) -> dict:
    return {"loss": torch.zeros((), device=device), "correct": torch.zeros((), device=device),
            "count": torch.zeros((), device=device), "time": torch.zeros((), dtype=torch.float64)}


def _amp_dtype(amp: str | None, device: torch.device, warn: bool = True):
    """The autocast dtype for a precision setting ("auto" asks :func:`pick_amp`)."""
    if amp == "auto":
        amp = pick_amp(device)
    if amp is None or amp == "none":
        return None
    if amp == "fp16":
        if device.type != "cuda":
            raise ValueError(f"amp='fp16' needs a CUDA GPU (it uses a GradScaler); the device is "
                             f"{device.type}. Use amp='auto' (no autocast here) or amp=None.")
        return torch.float16
    if amp == "bf16":
        if warn and device.type == "cpu" and not cpu_has_native_bf16():
            warnings.warn("amp='bf16' on a CPU without native bfloat16 (AVX512-BF16/AMX): matrix "
                          "products can be hundreds of times slower than float32. Use amp=None "
                          "on this CPU.", stacklevel=3)
        if warn and device.type == "cuda" and pick_amp(device) == "fp16":
            name = torch.cuda.get_device_name(device)
            warnings.warn(f"amp='bf16' on {name}, which has no bfloat16 tensor cores (compute "
                          f"capability < 8): the faster choice here is amp='fp16' (or 'auto').",
                          stacklevel=3)
        return torch.bfloat16
    raise ValueError(f"amp must be 'auto', None, 'bf16' or 'fp16', got {amp!r}.")


def _is_cnn(model: nn.Module) -> bool:
    """More than one convolution: a CNN (a ViT has one, its patch embedding)."""
    return sum(isinstance(m, nn.Conv2d) for m in model.modules()) > 1

"""fit() and evaluate(): a training loop that reads top to bottom in nanoGPT's ``train.py`` order:
setup, model, optimizer, compile, loop, eval, checkpoint.

The same call trains on a laptop CPU, a Colab GPU (AMP, torch.compile) and several GPUs (run the
script under ``torchrun``). Interrupted runs continue exactly: the data order of every epoch is a
function of (seed, epoch), and a checkpoint holds the step, the batch within the epoch and every
random generator, so a resumed run on the CPU ends with the same weights, bit for bit.
"""
import contextlib
import itertools
import json
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import (BatchSampler, DataLoader, DistributedSampler, IterableDataset,
                              RandomSampler, Sampler)

from ..data.device import DeviceLoader
from ..models.checks import check_finite
from .batch_seeds import BatchSeededDataset, SeededBatchSampler
from .checkpoint import (atomic_write_text, get_rng_state, load_checkpoint, load_latest_checkpoint,
                         remove_stale_temp_files, save_checkpoint, set_rng_state)
from .config import TrainConfig
from .distributed import ShardSampler, all_reduce_sum, setup_distributed, teardown_distributed
from .history import History
from .interrupts import GracefulInterrupts
from .losses import classification_loss
from .metrics import topk_correct
from .optim import build_optimizer, param_groups_weight_decay
from .resume import check_resume, run_identity
from .runlock import RunLock
from .schedule import build_scheduler
from .utils import cpu_has_native_bf16, pick_amp, pick_device, seed_everything, tqdm

CHECKED_BATCHES = 10  # the first batches of every run are checked for NaN and inf (cheap)


class NonFiniteLossError(FloatingPointError):
    """The loss or the weights became NaN or infinite; training stopped before saving them."""


def fit(model: nn.Module, train_loader: DataLoader, *, test_loader: DataLoader | None = None,
        config: TrainConfig | None = None, on_epoch_end=None, run_info: dict | None = None,
        **overrides) -> History:
    """Train ``model`` in place and return its per-epoch :class:`History`.

    Args:
        model: any classifier, images (B, C, H, W) -> logits (B, K).
        train_loader: yields (images, targets), targets as indices (B,) or soft (B, K). fit rebuilds
            it around a sampler it controls (same dataset, batch size, collate_fn and workers);
            a :class:`~minivision.data.DeviceLoader` orders and skips its own batches.
        test_loader: evaluated after every epoch (test_loss, test_top1, test_top5).
        config: a :class:`TrainConfig`; keyword arguments override its fields.
        on_epoch_end: called as ``on_epoch_end(record, model)`` after every epoch (on rank 0),
            with the epoch's record and the plain (uncompiled, unwrapped) model, e.g. to keep
            what a layer does over training. Whatever it adds to ``record`` is kept in the history.
        run_info: plain facts about the run (the CLI's model and dataset names) that a resumed
            run must repeat; stored in the checkpoints (see :mod:`~minivision.training.resume`).

    Returns:
        the History: one dict per epoch (epoch, step, lr, train_loss, train_acc, test_*,
        epoch_time, images_per_s). With ``out`` set, fit also writes out/last.pt, out/prev.pt
        and out/metrics.json, and holds out/.lock so that no second run writes there.

    Raises:
        Interrupted: on SIGINT or SIGTERM, after saving the last completed step.
        NonFiniteLossError: the loss became NaN or infinite; the last good checkpoint is kept.
    """
    config = (config or TrainConfig()).replace(**overrides)
    # --- setup: device, processes, seed, precision, the output folder --------------------------
    device = pick_device(config.device)
    dist_info = setup_distributed(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    seed_everything(config.seed + dist_info.rank)  # each process draws its own augmentations
    amp_dtype = _amp_dtype(config.amp, device)
    amp_on = amp_dtype is not None
    out = Path(config.out) if config.out is not None else None
    with contextlib.ExitStack() as stack:
        stack.callback(teardown_distributed, dist_info)
        if out is not None and dist_info.is_main:
            stack.enter_context(RunLock(out))  # before anything is written or cleaned there
            remove_stale_temp_files(out)
        guard = stack.enter_context(GracefulInterrupts())
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
        identity = run_identity(raw_model, train_loader, seed=config.seed,
                                world_size=dist_info.world_size, run_info=run_info)
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
            if config.resume is True:  # out/last.pt, else out/prev.pt (with a warning)
                ckpt, path = load_latest_checkpoint(out)
            else:
                path = Path(config.resume)
                ckpt = load_checkpoint(path)
            check_resume(ckpt, raw_model, identity, path, resume_anyway=config.resume_anyway)
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
        saved = {"step": pos["step"] if config.resume else None, "ours": bool(config.resume)}
        if out is not None and dist_info.is_main and not config.resume:
            _warn_if_replacing(out)

        def checkpoint(rng):  # only rank 0 writes; the others hold the same weights
            if out is None or not dist_info.is_main or saved["step"] == pos["step"]:
                return
            _check_weights_finite(raw_model, pos, out)  # never overwrite a good file with NaN
            state = {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                     "history": history.records, "position": pos, "rng": rng,
                     "config": config.to_dict(), "identity": identity}
            with guard.critical():
                if not saved["ours"]:  # a fresh run: an older run's prev.pt must not stay beside
                    (out / "prev.pt").unlink(missing_ok=True)
                previous = out / "prev.pt" if saved["ours"] else None
                save_checkpoint(out / "last.pt", state, previous=previous)
                saved["step"], saved["ours"] = pos["step"], True

        # --- the loop -----------------------------------------------------------------------------
        rng = get_rng_state()
        lr = optimizer.param_groups[0]["lr"]
        checked_batches = 0
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
                    if checked_batches < CHECKED_BATCHES:  # the data's first batches: finite?
                        check_finite(images, name=f"images of step {pos['step'] + 1}")
                        checked_batches += 1
                    if channels_last and images.ndim == 4:
                        images = images.contiguous(memory_format=torch.channels_last)
                    targets = targets.to(device, non_blocking=True)
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_on):
                        logits = model(images)  # (B, K)
                    loss = classification_loss(logits.float(), targets, kind=config.loss,
                                               label_smoothing=config.label_smoothing)
                    if not torch.isfinite(loss):  # before the update: the weights stay good
                        raise _non_finite_loss_error(loss, images, raw_model, pos, config, out)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if config.grad_clip is not None:
                        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                        nn.utils.clip_grad_norm_(raw_model.parameters(), config.grad_clip)
                    lr = optimizer.param_groups[0]["lr"]
                    with guard.critical():  # a signal now waits: no half-updated weights
                        scaler.step(optimizer)
                        scaler.update()
                        scheduler.step()
                        pos["step"] += 1
                        pos["batch"] += 1
                        sums["loss"] += loss.detach() * len(targets)
                        sums["correct"] += topk_correct(logits.detach(), targets, ks=(1,))[1]
                        sums["count"] += len(targets)
                        rng = get_rng_state()
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
                with guard.critical():  # the epoch's record, position and files go together
                    history.append(record)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()
                                     if k in ("train_loss", "train_acc", "test_top1")})
                    bar.close()
                    pos = {"epoch": epoch + 1, "batch": 0, "step": pos["step"],
                           "sums": _zero_sums(device)}
                    rng = get_rng_state()
                    saved["step"] = None  # the end of an epoch is always saved (new history)
                    checkpoint(rng)
                    if out is not None and dist_info.is_main:
                        records = json.dumps(history.records, indent=2)
                        atomic_write_text(out / "metrics.json", records)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Interrupted): keep the last step done
            checkpoint(rng)
            raise
        return history


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
        self.sampler, self.batch_size, self.skip, self.epoch = sampler, batch_size, 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.sampler.set_epoch(epoch)  # a new permutation each epoch, the same on every process
        self.epoch, self.skip = epoch, skip_batches * self.batch_size

    def __iter__(self):
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


def _controlled_loader(loader: DataLoader, seed: int, dist_info):
    """The same loader, rebuilt around a :class:`ResumableSampler` and a private generator (so
    that starting an epoch does not consume the global random state); each batch is seeded by
    (seed, rank, epoch, batch) inside the workers (:mod:`~minivision.training.batch_seeds`)."""
    if isinstance(loader, DeviceLoader):  # orders and skips its batches itself, by (seed, epoch)
        loader = loader.shard(seed=seed, rank=dist_info.rank, world_size=dist_info.world_size)
        return loader, loader, torch.Generator()
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
    batches = SeededBatchSampler(sampler, loader.batch_size, loader.drop_last, seed=seed,
                                 rank=dist_info.rank)
    rebuilt = DataLoader(
        BatchSeededDataset(loader.dataset), batch_sampler=batches,
        num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn, generator=generator,
        persistent_workers=loader.persistent_workers,
        prefetch_factor=loader.prefetch_factor if loader.num_workers > 0 else None,
    )
    return rebuilt, sampler, generator


def _non_finite_loss_error(loss, images, model: nn.Module, pos: dict, config, out):
    """Why the loss is NaN or infinite, as far as the batch and the weights tell."""
    where = f"the loss is {loss.item()} at step {pos['step'] + 1} (epoch {pos['epoch'] + 1})"
    if not bool(torch.isfinite(images).all()):
        cause = "the batch's images hold NaN or infinite values: check the data pipeline"
    elif not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        cause = (f"the weights are no longer finite, so an earlier update diverged: lower the "
                 f"learning rate (lr={config.lr:g}) or set grad_clip (e.g. 1.0)")
    else:
        cause = (f"the images and weights are finite, so the logits overflowed: lower the "
                 f"learning rate (lr={config.lr:g}), set grad_clip, or use amp='bf16' over 'fp16'")
    kept = f"; the last good checkpoint in {out} is kept" if out is not None else ""
    return NonFiniteLossError(f"{where}: training stopped{kept}. Likely cause: {cause}.")


def _warn_if_replacing(out: Path) -> None:
    """A fresh run into a folder that holds another run's checkpoints replaces them: say so."""
    found = [name for name in ("last.pt", "prev.pt") if (out / name).is_file()]
    if found:
        warnings.warn(f"{out} holds the checkpoints of an earlier run ({', '.join(found)}); this "
                      f"new run replaces them at its first save. To continue that run instead, "
                      f"pass resume=True (CLI: --resume).", stacklevel=3)


def _check_weights_finite(model: nn.Module, pos: dict, out) -> None:
    """Before a save: weights with NaN must not replace a good checkpoint."""
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise NonFiniteLossError(
            f"after step {pos['step']} the weights hold NaN or infinite values ({bad[0]} and "
            f"{len(bad) - 1} more): training stopped, the last good checkpoint in {out} is kept. "
            f"Lower the learning rate or set grad_clip (e.g. 1.0).")


def _sharded_loader(loader: DataLoader, dist_info) -> DataLoader:
    """Each process evaluates every world_size-th sample; evaluate() adds the sums."""
    if isinstance(loader, DeviceLoader):
        return loader.shard(seed=0, rank=dist_info.rank, world_size=dist_info.world_size)
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
                             f"{device.type}. Use amp='auto' (--amp auto: no autocast on this "
                             f"device) or amp=None (--amp none).")
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

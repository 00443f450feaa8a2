"""fit() and evaluate(): one training loop for every task, read top to bottom in nanoGPT's
``train.py`` order: setup, model and optimizer, resume, compile, the loop (one epoch, one step),
evaluation, checkpoint.

A task (:mod:`~minivision.training.tasks`) says how a batch becomes a loss and what counts as
right; classification is the default, and a pretext task such as
:class:`~minivision.ssl.MaskedRotationTask` trains through the same loop. The same call trains on
a laptop CPU, a Colab GPU (AMP, torch.compile) and several GPUs (run the script under
``torchrun``). Interrupted runs continue exactly: the data order of every epoch is a function of
(seed, epoch), the task's own randomness a function of (seed, rank, epoch, batch), and a
checkpoint holds the step, the batch within the epoch and every random generator, so a resumed
run on the CPU ends with the same weights, bit for bit.

Two small dataclasses carry what the pieces share: :class:`Run` (fixed for the whole run: the
settings, the device, the processes, the data order) and :class:`TrainState` (what changes and
what a checkpoint holds: weights, optimizer, schedule, history, the position in the data).
"""
import contextlib
import itertools
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from ..models.checks import check_finite
from .checkpoint import (atomic_write_text, get_rng_state, load_checkpoint, load_latest_checkpoint,
                         remove_stale_temp_files, save_checkpoint, set_rng_state)
from .config import TrainConfig
from .data_order import controlled_loader, sharded_loader
from .distributed import (DistInfo, all_reduce_sum, all_reduce_sums, setup_distributed,
                          teardown_distributed)
from .history import History
from .interrupts import GracefulInterrupts
from .optim import build_optimizer, param_groups_weight_decay
from .resume import check_resume, run_identity
from .runlock import RunLock
from .schedule import build_scheduler
from .tasks import ClassificationTask, Task, TaskOutput, task_generator
from ..runtime import cpu_has_native_bf16, pick_amp, pick_device, seed_everything, tqdm

CHECKED_BATCHES = 10  # the first batches of every run are checked for NaN and inf (cheap)


class NonFiniteLossError(FloatingPointError):
    """The loss or the weights became NaN or infinite; training stopped before saving them."""


def fit(model: nn.Module, train_loader: DataLoader, *, test_loader: DataLoader | None = None,
        config: TrainConfig | None = None, on_epoch_end=None, run_info: dict | None = None,
        task: Task | None = None, **overrides) -> History:
    """Train ``model`` in place on ``task`` and return its per-epoch :class:`History`.

    Args:
        model: what ``task`` runs; for the default task a classifier, images (B, C, H, W) or
            clips (B, T, C, H, W) -> logits (B, K).
        train_loader: yields batches for ``task``; for the default (images, targets), targets
            as indices (B,) or soft (B, K). fit rebuilds it around a sampler it controls (same
            dataset, batch size, collate_fn and workers); a
            :class:`~minivision.data.DeviceLoader` orders and skips its own batches.
        test_loader: evaluated after every epoch (``test_<name>`` for every number that
            :func:`evaluate` returns: test_loss, test_top1, test_top5 for classification).
        config: a :class:`TrainConfig`; keyword arguments override its fields.
        on_epoch_end: called as ``on_epoch_end(record, model)`` after every epoch (on rank 0),
            with the epoch's record and the plain (uncompiled, unwrapped) model, e.g. to keep
            what a layer does over training. Whatever it adds to ``record`` is kept in the history.
        run_info: plain facts about the run (the CLI's model and dataset names) that a resumed
            run must repeat; stored in the checkpoints (see :mod:`~minivision.training.resume`).
        task: how a batch becomes a loss (:class:`~minivision.training.tasks.Task`); default
            :class:`~minivision.training.tasks.ClassificationTask` with ``config.loss`` and
            ``config.label_smoothing``.

    Returns:
        the History: one dict per epoch (epoch, step, lr, train_loss, train_acc when the task
        counts hits, train_<metric> for the task's other numbers, epoch_time, images_per_s,
        test_*). With ``out`` set, fit also writes out/last.pt, out/prev.pt and
        out/metrics.json, and holds out/.lock so that no second run writes there.

    Raises:
        Interrupted: on SIGINT or SIGTERM, after saving the last completed step.
        NonFiniteLossError: the loss became NaN or infinite; the last good checkpoint is kept.
    """
    config = (config or TrainConfig()).replace(**overrides)
    task = task or ClassificationTask(loss=config.loss, label_smoothing=config.label_smoothing)
    run = _setup(config, task)
    with contextlib.ExitStack() as stack:
        _open_run(stack, run)
        state = _build_state(model, train_loader, test_loader, run, run_info)
        if config.resume:
            _resume(state, run)
        _compile_and_wrap(state, run)
        try:
            for epoch in range(state.pos.epoch, config.epochs):
                if state.pos.step >= run.total_steps and state.pos.batch == 0:
                    break
                bar = _train_epoch(state, run, epoch)
                _end_epoch(state, run, epoch, bar, on_epoch_end)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Interrupted): keep the last step done
            _checkpoint(state, run)
            raise
        return state.history


# --- the two things the pieces share --------------------------------------------------------------
@dataclass
class Run:
    """What stays fixed while fit runs: settings, task, device, processes, precision, data."""

    config: TrainConfig
    task: Task
    device: torch.device
    dist: DistInfo
    amp_dtype: torch.dtype | None  # autocast's dtype; None: float32 throughout
    out: Path | None  # the output folder; None: no files
    guard: GracefulInterrupts | None = None  # SIGINT/SIGTERM wait for its critical() blocks
    channels_last: bool = False
    loader: DataLoader | None = None  # the rebuilt train loader, and what orders its batches:
    sampler: object = None  # set_epoch(epoch, skip_batches=...)
    generator: torch.Generator | None = None  # the workers' base seed
    steps_per_epoch: int = 0
    total_steps: int = 0
    test_loader: DataLoader | None = None
    identity: dict = field(default_factory=dict)  # what a resumed run must repeat


@dataclass
class Position:
    """Where the run is: the epoch, the batch within it, the optimizer steps so far, and the
    sums of the epoch's numbers (loss * count, count, hits, time) up to that batch."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    sums: dict = field(default_factory=dict)

    def add(self, name: str, value) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value

    def to_dict(self) -> dict:  # plain types: a weights_only checkpoint holds them
        return {"epoch": self.epoch, "batch": self.batch, "step": self.step, "sums": self.sums}


@dataclass
class TrainState:
    """What changes while fit runs; a checkpoint is this, written down (less the wrappers)."""

    raw_model: nn.Module  # the plain module: this is what checkpoints hold
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    history: History
    pos: Position
    model: nn.Module | None = None  # what trains: raw_model compiled and/or wrapped for DDP
    eval_model: nn.Module | None = None  # the same without the DDP wrapper
    rng: dict | None = None  # every random generator, as after the last completed step
    lr: float = 0.0  # the learning rate of the last step
    saved_step: int | None = None  # the step of the checkpoint on disk; None: not this one
    saved_ours: bool = False  # out/last.pt belongs to this run (so it rotates into prev.pt)
    checked_batches: int = 0


# --- setup: device, processes, seed, precision, the output folder ---------------------------------
def _setup(config: TrainConfig, task: Task) -> Run:
    """Pick the device, join the process group under torchrun, seed, pick the precision."""
    device = pick_device(config.device)
    dist_info = setup_distributed(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    seed_everything(config.seed + dist_info.rank)  # each process draws its own augmentations
    out = Path(config.out) if config.out is not None else None
    return Run(config=config, task=task, device=device, dist=dist_info,
               amp_dtype=_amp_dtype(config.amp, device, stacklevel=4), out=out)


def _open_run(stack: contextlib.ExitStack, run: Run) -> None:
    """What must be undone when fit ends, however it ends: the process group, the lock on the
    output folder, the signal handlers."""
    stack.callback(teardown_distributed, run.dist)
    if run.out is not None and run.dist.is_main:
        stack.enter_context(RunLock(run.out))  # before anything is written or cleaned there
        remove_stale_temp_files(run.out)
    run.guard = stack.enter_context(GracefulInterrupts())


# --- model, data order, optimizer, schedule, loss scaling -----------------------------------------
def _build_state(model: nn.Module, train_loader, test_loader, run: Run,
                 run_info: dict | None) -> TrainState:
    """Move the model to the device, fix the data order, build the optimizer and schedule."""
    config = run.config
    raw_model = model.to(run.device)
    run.channels_last = config.channels_last
    if run.channels_last is None:
        run.channels_last = run.device.type == "cuda" and _is_cnn(model)
    if run.channels_last:
        raw_model = raw_model.to(memory_format=torch.channels_last)
    run.loader, run.sampler, run.generator = controlled_loader(train_loader, config.seed, run.dist)
    run.steps_per_epoch = len(run.loader)
    if run.steps_per_epoch == 0:
        raise ValueError("the train loader yields no batches (empty dataset, or drop_last with "
                         "fewer samples than one batch); use more data or a smaller batch.")
    run.total_steps = min(config.epochs * run.steps_per_epoch, config.max_steps or float("inf"))
    run.identity = run_identity(raw_model, train_loader, seed=config.seed,
                                world_size=run.dist.world_size, run_info=run_info)
    run.test_loader = test_loader
    if test_loader is not None and run.dist.enabled:
        run.test_loader = sharded_loader(test_loader, run.dist)
    if config.layer_decay is not None:
        from .finetune import param_groups_lrd

        groups = param_groups_lrd(raw_model, lr=config.lr, layer_decay=config.layer_decay,
                                  weight_decay=config.weight_decay)
    else:
        groups = param_groups_weight_decay(raw_model, config.weight_decay)
    optimizer = build_optimizer(groups, config)
    warmup_steps = min(round(config.warmup_epochs * run.steps_per_epoch), run.total_steps)
    scheduler = build_scheduler(optimizer, warmup_steps=warmup_steps, total_steps=run.total_steps,
                                min_ratio=config.min_lr / config.lr)
    # fp16 needs loss scaling against underflowing gradients; bf16 has float32's range
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.amp_dtype == torch.float16)
    return TrainState(raw_model=raw_model, optimizer=optimizer, scheduler=scheduler,
                      scaler=scaler, history=History(), pos=Position(sums=_zero_sums(run.device)))


# --- resume ---------------------------------------------------------------------------------------
def _resume(state: TrainState, run: Run) -> None:
    """Load a checkpoint into ``state``: weights, optimizer, schedule, history, position, RNGs."""
    config = run.config
    if config.resume is True:  # out/last.pt, else out/prev.pt (with a warning)
        ckpt, path = load_latest_checkpoint(run.out)
    else:
        path = Path(config.resume)
        ckpt = load_checkpoint(path)
    check_resume(ckpt, state.raw_model, run.identity, path, resume_anyway=config.resume_anyway)
    state.raw_model.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.scheduler.load_state_dict(ckpt["scheduler"])
    state.scaler.load_state_dict(ckpt["scaler"])
    state.history = History(ckpt["history"])
    saved = ckpt["position"]
    sums = {name: value.to(run.device) for name, value in saved["sums"].items()}
    state.pos = Position(saved["epoch"], saved["batch"], saved["step"], sums)
    set_rng_state(ckpt["rng"])
    state.saved_step, state.saved_ours = state.pos.step, True  # the file is there: no new save


# --- compile, then wrap for data parallelism (nanoGPT's order) -----------------------------------
def _compile_and_wrap(state: TrainState, run: Run) -> None:
    model = torch.compile(state.raw_model) if run.config.compile else state.raw_model
    if run.dist.enabled:
        device_ids = [run.device.index] if run.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    state.model = model
    state.eval_model = model.module if run.dist.enabled else model
    if run.out is not None and run.dist.is_main and not run.config.resume:
        _warn_if_replacing(run.out)
    state.rng = get_rng_state()
    state.lr = state.optimizer.param_groups[0]["lr"]


# --- the loop: one epoch, one step ---------------------------------------------------------------
def _train_epoch(state: TrainState, run: Run, epoch: int):
    """Train from the current batch to the end of the epoch (or to max_steps); returns the bar."""
    config, pos = run.config, state.pos
    run.sampler.set_epoch(epoch, skip_batches=pos.batch)
    run.generator.manual_seed(config.seed * 10_007 + epoch)  # worker seeds, per epoch
    state.model.train()
    bar = tqdm(run.loader, total=run.steps_per_epoch, initial=pos.batch, leave=True,
               desc=f"epoch {epoch + 1}/{config.epochs}",
               disable=not (config.progress and run.dist.is_main))
    start = time.perf_counter()
    for batch in bar:
        loss = _train_step(state, run, batch)
        if pos.batch % 10 == 0 or pos.batch == run.steps_per_epoch:
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{state.lr:.2e}")
        if pos.step >= run.total_steps:
            break
        if config.checkpoint_every and pos.step % config.checkpoint_every == 0 \
                and pos.batch < run.steps_per_epoch:
            pos.sums["time"] += time.perf_counter() - start  # the saving time is not training
            start = time.perf_counter()
            _checkpoint(state, run)
    pos.sums["time"] += time.perf_counter() - start
    return bar


def _train_step(state: TrainState, run: Run, batch) -> torch.Tensor:
    """One optimizer step on one batch: forward (under autocast), loss, backward, update."""
    pos = state.pos
    batch = _to_device(batch, run.device, run.channels_last)
    if state.checked_batches < CHECKED_BATCHES:  # the data's first batches: finite?
        check_finite(_inputs(batch), name=f"images of step {pos.step + 1}")
        state.checked_batches += 1
    # the task's own randomness (which patches to mask, ...) is a function of where we are
    generator = task_generator(run.config.seed, run.dist.rank, pos.epoch, pos.batch)
    with torch.autocast(run.device.type, dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
        outputs, targets = run.task.forward(state.model, batch, generator=generator)
    out = run.task.loss(outputs, targets)
    if not torch.isfinite(out.loss):  # before the update: the weights stay good
        raise _non_finite_loss_error(out.loss, _inputs(batch), state.raw_model, pos, run)
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(out.loss).backward()
    if run.config.grad_clip is not None:
        state.scaler.unscale_(state.optimizer)  # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(state.raw_model.parameters(), run.config.grad_clip)
    state.lr = state.optimizer.param_groups[0]["lr"]
    with run.guard.critical():  # a signal now waits: no half-updated weights
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.scheduler.step()
        pos.step += 1
        pos.batch += 1
        _add_to_sums(pos, out)
        state.rng = get_rng_state()
    return out.loss


def _add_to_sums(pos: Position, out: TaskOutput) -> None:
    """The batch's numbers, weighted by its size, into the epoch's running sums."""
    pos.add("loss", out.loss.detach() * out.count)
    if out.correct is not None:
        pos.add("correct", out.correct)
    pos.add("count", out.count)
    for name, value in out.metrics.items():
        pos.add(name, value.detach() * out.count)


# --- end of epoch: metrics, evaluation, checkpoint ------------------------------------------------
def _end_epoch(state: TrainState, run: Run, epoch: int, bar, on_epoch_end) -> None:
    """The epoch's record (evaluated on the test loader), the history, the files."""
    record = _epoch_record(state, run, epoch)
    if run.test_loader is not None:
        metrics = evaluate(state.eval_model, run.test_loader, device=run.device,
                           amp=run.config.amp, task=run.task)
        record.update({f"test_{k}": v for k, v in metrics.items()})
        state.model.train()
    if on_epoch_end is not None and run.dist.is_main:
        on_epoch_end(record, state.raw_model)
        state.model.train()
    with run.guard.critical():  # the epoch's record, position and files go together
        state.history.append(record)
        bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()
                         if k in ("train_loss", "train_acc", "test_top1", "test_acc")})
        bar.close()
        state.pos = Position(epoch + 1, 0, state.pos.step, _zero_sums(run.device))
        state.rng = get_rng_state()
        state.saved_step = None  # the end of an epoch is always saved (new history)
        _checkpoint(state, run)
        if run.out is not None and run.dist.is_main:
            records = json.dumps(state.history.records, indent=2)
            atomic_write_text(run.out / "metrics.json", records)


def _epoch_record(state: TrainState, run: Run, epoch: int) -> dict:
    """Means over the epoch of every number the task added up, summed over all processes."""
    sums = state.pos.sums
    names = sorted(name for name in sums if name != "time")  # the same order on every rank
    totals = all_reduce_sum(torch.stack([torch.as_tensor(sums[n], dtype=torch.float32,
                                                         device=run.device) for n in names]))
    totals = dict(zip(names, totals))
    count, seconds = totals["count"], sums["time"].item()
    record = {"epoch": epoch + 1, "step": state.pos.step, "lr": state.lr,
              "train_loss": (totals["loss"] / count).item()}
    if "correct" in totals:
        record["train_acc"] = (totals["correct"] / count).item()
    for name in names:
        if name not in ("loss", "correct", "count"):
            record[f"train_{name}"] = (totals[name] / count).item()
    record.update(epoch_time=seconds, images_per_s=count.item() / max(seconds, 1e-9))
    return record


# --- checkpoint -----------------------------------------------------------------------------------
def _checkpoint(state: TrainState, run: Run) -> None:
    """Save the last completed step to out/last.pt (the previous file becomes out/prev.pt).

    Only rank 0 writes; the other processes hold the same weights. A step already on disk is
    not written again.
    """
    if run.out is None or not run.dist.is_main or state.saved_step == state.pos.step:
        return
    _check_weights_finite(state.raw_model, state.pos, run.out)  # never replace a good file
    ckpt = {"model": state.raw_model.state_dict(), "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(), "scaler": state.scaler.state_dict(),
            "history": state.history.records, "position": state.pos.to_dict(),
            "rng": state.rng, "config": run.config.to_dict(), "identity": run.identity}
    with run.guard.critical():
        if not state.saved_ours:  # a fresh run: an older run's prev.pt must not stay beside
            (run.out / "prev.pt").unlink(missing_ok=True)
        previous = run.out / "prev.pt" if state.saved_ours else None
        save_checkpoint(run.out / "last.pt", ckpt, previous=previous)
        state.saved_step, state.saved_ours = state.pos.step, True


# --- evaluation -----------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, *, device=None, amp: str | None = "auto",
             loss: str = "ce", task: Task | None = None, seed: int = 0) -> dict:
    """The task's numbers averaged over a whole loader; for classification the loss (without
    label smoothing), top-1 and top-5 accuracy.

    Args:
        model: what ``task`` runs; for classification images (B, C, H, W) -> logits (B, K).
        loader: yields batches for ``task``; for classification (images, targets), targets as
            indices (B,) or soft (B, K).
        device: where to run; default: the device of the model's parameters.
        amp: "auto" (:func:`pick_amp` for the device), None, "bf16" or "fp16": autocast for
            the forward pass.
        loss: "ce" or "bce", as in training (for the default task).
        task: a :class:`~minivision.training.tasks.Task`; default
            ``ClassificationTask(loss=loss)``.
        seed: of the task's randomness (batch i draws from (seed, rank, 0, i)), so that every
            call corrupts the same way and epochs compare.

    Under torchrun with a sharded loader, the sums are added over all processes first.

    Returns:
        {name: float} for every sum the task's ``evaluate`` returns, divided by the count; for
        classification {"loss", "top1", "top5"}, accuracies in [0, 1].
    """
    task = task or ClassificationTask(loss=loss)
    device = _evaluation_device(model, device)
    amp_dtype = _amp_dtype(amp, device, warn=False)
    was_training = model.training
    model.eval()
    sums, rank = {}, dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    for i, batch in enumerate(loader):
        batch = _to_device(batch, device, channels_last=False)
        generator = task_generator(seed, rank, 0, i, evaluation=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outputs, targets = task.forward(model, batch, generator=generator)
        for name, value in task.evaluate(outputs, targets).items():
            sums[name] = sums.get(name, torch.zeros((), device=device)) + value
    model.train(was_training)
    totals = all_reduce_sums(sums, device)  # a shard with no batch still takes part
    if "count" not in totals or totals["count"] == 0:
        raise ValueError("the evaluation loader yields no samples.")
    count = totals["count"]
    return {n: (total / count).item() for n, total in totals.items() if n != "count"}


def _evaluation_device(model: nn.Module, device) -> torch.device:
    model_device = next(itertools.chain(model.parameters(), [torch.empty(0)])).device
    device = model_device if device is None else torch.device(device)
    if device.type != model_device.type:
        raise ValueError(f"evaluate(device={str(device)!r}) but the model's weights are on "
                         f"{model_device}; move the model first (model.to({str(device)!r})) or "
                         "leave device=None to run where the model is.")
    return device


# --- small helpers --------------------------------------------------------------------------------
def _to_device(batch, device: torch.device, channels_last: bool):
    """Every tensor of a batch (a tensor, or a tuple/list/dict of them) on ``device``; the
    inputs (the first item) in channels_last when asked and 4-D."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.ndim == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, dict):
        return {k: _to_device(v, device, False) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [_to_device(item, device, channels_last and i == 0) for i, item in enumerate(batch)]
        return type(batch)(moved) if isinstance(batch, tuple) else moved
    return batch


def _inputs(batch) -> torch.Tensor:
    """The model's inputs: the batch itself, or its first item."""
    return batch if isinstance(batch, torch.Tensor) else batch[0]


def _zero_sums(device) -> dict:
    return {"loss": torch.zeros((), device=device), "count": torch.zeros((), device=device),
            "time": torch.zeros((), dtype=torch.float64)}


def _non_finite_loss_error(loss, images, model: nn.Module, pos: Position, run: Run):
    """Why the loss is NaN or infinite, as far as the batch and the weights tell."""
    config, out = run.config, run.out
    where = f"the loss is {loss.item()} at step {pos.step + 1} (epoch {pos.epoch + 1})"
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
                      f"pass resume=True (CLI: --resume).", stacklevel=4)


def _check_weights_finite(model: nn.Module, pos: Position, out) -> None:
    """Before a save: weights with NaN must not replace a good checkpoint."""
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise NonFiniteLossError(
            f"after step {pos.step} the weights hold NaN or infinite values ({bad[0]} and "
            f"{len(bad) - 1} more): training stopped, the last good checkpoint in {out} is kept. "
            f"Lower the learning rate or set grad_clip (e.g. 1.0).")


def _amp_dtype(amp: str | None, device: torch.device, warn: bool = True, stacklevel: int = 3):
    """The autocast dtype for a precision setting ("auto" asks :func:`pick_amp`); warnings
    point ``stacklevel`` frames up (fit's caller, from fit's setup)."""
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
                          "on this CPU.", stacklevel=stacklevel)
        if warn and device.type == "cuda" and pick_amp(device) == "fp16":
            name = torch.cuda.get_device_name(device)
            warnings.warn(f"amp='bf16' on {name}, which has no bfloat16 tensor cores (compute "
                          f"capability < 8): the faster choice here is amp='fp16' (or 'auto').",
                          stacklevel=stacklevel)
        return torch.bfloat16
    raise ValueError(f"amp must be 'auto', None, 'bf16' or 'fp16', got {amp!r}.")


def _is_cnn(model: nn.Module) -> bool:
    """More than one convolution: a CNN (a ViT has one, its patch embedding)."""
    return sum(isinstance(m, nn.Conv2d) for m in model.modules()) > 1

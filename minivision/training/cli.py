"""``minivision train``: train any registered model on any dataset from the command line.

    minivision train            # the micro ViT on the built-in shapes (about 1.5 minutes on a CPU)
    minivision train --model resnet18 --dataset cifar10 --epochs 30 --amp bf16 --compile
    torchrun --nproc_per_node=4 -m minivision.training.cli --dataset cifar100 --epochs 100

It writes to --out: metrics.json (the History), history.png, config.json, last.pt and prev.pt;
``--resume`` continues from out/last.pt. The knobs are those of a classic ``main.py``; argparse
fills two dataclasses, :class:`RunArgs` (model, data, output) and :class:`TrainConfig`
(the optimisation).
"""
import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .checkpoint import CheckpointError
from .config import TrainConfig

DATASET_NAMES = ("builtin", "builtin_distorted", "cifar10", "cifar100", "eurosat")
AUGMENTATIONS = ("none", "standard", "cutmix", "mixup")


@dataclass
class RunArgs:
    """What to train on what, and where the results go."""

    model: str = "vit_micro_patch8_32"
    dataset: str = "builtin"
    data_root: str | None = None
    batch_size: int = 128
    augmentation: str = "standard"
    num_workers: int = 0
    train_samples: int | None = None  # None: the whole split (built-in: 10,000 / 2,000)
    test_samples: int | None = None
    out: str | None = None  # None: runs/<model>-<dataset>


# The demo defaults: `minivision train` with no options trains the micro ViT (patch 8) on the
# built-in shapes: 12 epochs of 79 steps, about 1.5 minutes on a 2-core CPU (benchmarks/RESULTS.md).
DEMO_DEFAULTS = dict(epochs=12, lr=2e-3, warmup_epochs=1.0)


def build_parser() -> argparse.ArgumentParser:
    d, t = RunArgs(), TrainConfig(**DEMO_DEFAULTS)
    p = argparse.ArgumentParser(prog="minivision train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=d.model, help="a name from minivision.models.MODEL_NAMES")
    p.add_argument("--dataset", default=d.dataset, choices=DATASET_NAMES)
    p.add_argument("--data-root", default=d.data_root, help="folder holding the datasets")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--augmentation", default=d.augmentation, choices=AUGMENTATIONS)
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--train-samples", type=int, default=d.train_samples, help="subset size")
    p.add_argument("--test-samples", type=int, default=d.test_samples, help="subset size")
    p.add_argument("--out", default=d.out, help="output folder (default runs/<model>-<dataset>)")
    p.add_argument("--epochs", type=int, default=t.epochs)
    p.add_argument("--optimizer", default=t.optimizer, choices=("adamw", "sgd"))
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--weight-decay", type=float, default=t.weight_decay)
    p.add_argument("--momentum", type=float, default=t.momentum)
    p.add_argument("--warmup-epochs", type=float, default=t.warmup_epochs)
    p.add_argument("--min-lr", type=float, default=t.min_lr)
    p.add_argument("--loss", default=t.loss, choices=("ce", "bce"))
    p.add_argument("--label-smoothing", type=float, default=t.label_smoothing)
    p.add_argument("--amp", default="auto", choices=("auto", "none", "bf16", "fp16"),
                   help="auto: bf16 on GPUs with compute capability >= 8, fp16 on older "
                        "GPUs (T4, V100), none on CPU and MPS")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--grad-clip", type=float, default=t.grad_clip)
    p.add_argument("--device", default=None, choices=("cuda", "mps", "cpu"))
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--checkpoint-every", type=int, default=None, help="also save every N steps")
    p.add_argument("--max-steps", type=int, default=None, help="stop after N steps (quick runs)")
    p.add_argument("--resume", nargs="?", const=True, default=None,
                   help="continue from PATH, or from <out>/last.pt without a PATH")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def parse_args(argv) -> tuple[RunArgs, TrainConfig]:
    """Command-line words -> (RunArgs, TrainConfig); a ValueError for impossible values."""
    ns = build_parser().parse_args(argv)
    run = RunArgs(**{k: getattr(ns, k) for k in asdict(RunArgs())})
    run.out = run.out or str(Path("runs") / f"{run.model}-{run.dataset}")
    if run.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {run.batch_size}.")
    for name in ("train_samples", "test_samples"):
        if getattr(run, name) is not None and getattr(run, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be at least 1, got {getattr(run, name)}.")
    if isinstance(ns.resume, str) and not Path(ns.resume).is_file():
        raise ValueError(f"--resume {ns.resume}: no such checkpoint file.")
    if ns.resume is True and not (Path(run.out) / "last.pt").is_file():
        raise ValueError(f"--resume without a path reads {Path(run.out) / 'last.pt'}, which does "
                         "not exist; pass the checkpoint's path or the run's --out.")
    config = TrainConfig(
        epochs=ns.epochs, optimizer=ns.optimizer, lr=ns.lr, weight_decay=ns.weight_decay,
        momentum=ns.momentum, warmup_epochs=ns.warmup_epochs, min_lr=ns.min_lr, loss=ns.loss,
        label_smoothing=ns.label_smoothing, amp=None if ns.amp == "none" else ns.amp,
        compile=ns.compile, grad_clip=ns.grad_clip, device=ns.device, seed=ns.seed, out=run.out,
        checkpoint_every=ns.checkpoint_every, resume=ns.resume, progress=not ns.no_progress,
        max_steps=ns.max_steps,
    )
    return run, config


def build_run(run: RunArgs, config: TrainConfig):
    """The model and the two loaders named by ``run``."""
    from ..data import (cutmix_mixup_collate, dataset_info, default_transforms, get_dataset,
                        make_loader)
    from ..models.registry import MODEL_NAMES, create_model

    if run.model not in MODEL_NAMES:
        raise ValueError(f"unknown model {run.model!r}; choose one of: {', '.join(MODEL_NAMES)}.")
    info = dataset_info(run.dataset)
    basic = "none" if run.augmentation == "none" else "standard"
    train_transform = default_transforms(run.dataset, train=True, augmentation=basic)
    train_set = get_dataset(run.dataset, train=True, root=run.data_root,
                            num_samples=run.train_samples, transform=train_transform)
    test_set = get_dataset(run.dataset, train=False, root=run.data_root,
                           num_samples=run.test_samples,
                           transform=default_transforms(run.dataset, train=False))
    collate = None
    if run.augmentation in ("cutmix", "mixup"):
        collate = cutmix_mixup_collate(run.augmentation, info.num_classes)
    train_loader = make_loader(train_set, run.batch_size, train=True, num_workers=run.num_workers,
                               seed=config.seed, collate_fn=collate)
    test_loader = make_loader(test_set, run.batch_size, train=False, num_workers=run.num_workers)
    model = create_model(run.model, num_classes=info.num_classes, image_size=info.image_size,
                         in_channels=info.in_channels)
    return model, train_loader, test_loader


def main(argv: list[str] | None = None) -> int:
    """Run ``minivision train``; returns the exit code (2 for a user error, with its message)."""
    from ..data import DatasetNotFoundError
    from .history import plot_history
    from .trainer import fit
    from .utils import count_parameters

    is_main = int(os.environ.get("RANK", "0")) == 0
    try:
        run, config = parse_args(sys.argv[1:] if argv is None else argv)
        model, train_loader, test_loader = build_run(run, config)
    except SystemExit as exit_:  # argparse: --help (0) or a malformed option (2, usage printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    except (ValueError, DatasetNotFoundError) as err:
        print(f"minivision train: error: {err}", file=sys.stderr)
        return 2
    out = Path(run.out)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"run": asdict(run), "train": config.to_dict()},
                                                    indent=2))
        print(f"{run.model} ({count_parameters(model):,} parameters) on {run.dataset}: "
              f"{len(train_loader.dataset):,} train / {len(test_loader.dataset):,} test images "
              f"-> {out}")
    try:
        history = fit(model, train_loader, test_loader=test_loader, config=config)
    except CheckpointError as err:
        print(f"minivision train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if is_main:
            print(f"\ninterrupted: the last completed step is saved in {out / 'last.pt'}; "
                  "continue with --resume", file=sys.stderr)
        return 130
    if is_main:
        history.to_json(out / "metrics.json")
        plot_history(history).savefig(out / "history.png", dpi=100)
        last = history[-1]
        print(f"final test accuracy: top-1 {100 * last['test_top1']:.2f}%, top-5 "
              f"{100 * last['test_top5']:.2f}% after {last['epoch']} epochs "
              f"({last['step']} steps); "
              f"best top-1 {100 * history.best('test_top1')['test_top1']:.2f}%")
    return 0


if __name__ == "__main__":  # torchrun -m minivision.training.cli ...
    sys.exit(main())

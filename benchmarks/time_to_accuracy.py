"""Time to accuracy: train a named recipe and report when the test top-1 first reaches 70/80/90/94%.

The clock starts with the command (the first line of this file, before torch is imported), so
the times include importing, decoding the JPEG copy of CIFAR-10 into memory and every evaluation:
what a student waits for. The test set is evaluated after every epoch (``fit``'s cadence); the
JSON says what share of the wall time those evaluations took (``eval_share``).

    python benchmarks/time_to_accuracy.py cct_cpu                 # 2 idle cores: ~12.5 min
    python benchmarks/time_to_accuracy.py cct_cpu --budget-s 1800 # as many epochs as fit 30 min
    python benchmarks/time_to_accuracy.py vit_tiny --device cuda  # the GPU recipes
    python benchmarks/time_to_accuracy.py cct_cpu --quick --dataset builtin   # seconds: a test

The result goes to benchmarks/results/time_to_accuracy_<recipe>_<hardware>.json: the time to each
threshold (null if never reached), the final and best top-1, the per-epoch log, the recipe, the
training config, the seed, the torch version, the hardware and the load of the machine.
"""
import time

START = time.perf_counter()  # the command's clock: everything below counts

import argparse
import copy
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

THRESHOLDS = (0.70, 0.80, 0.90, 0.94)
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Recipe:
    """A model and its training settings; ``why`` says what each non-default choice is for."""

    model: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adamw"
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    min_lr: float = 1e-5
    label_smoothing: float = 0.0
    mix: str | None = None  # None, "cutmix", "mixup", "both" (per sample, on the device)
    momentum: float = 0.9
    nesterov: bool = False
    channels_last: bool | None = None  # None: fit's rule (CNNs on CUDA)
    model_overrides: dict = field(default_factory=dict)  # fields of ViTConfig / CCTConfig
    hardware: str = "gpu"  # what the recipe is sized for
    why: str = ""


RECIPES = {
    # issue 14's two GPU baselines, as `minivision train` runs them
    "vit_tiny": Recipe(model="vit_tiny_patch4_32", epochs=30, batch_size=512, lr=1e-3,
                       warmup_epochs=2,
                       why="the issue's baseline: ViT-Ti/4 with the library's defaults"),
    "resnet18": Recipe(model="resnet18", epochs=30, batch_size=512, lr=0.2, optimizer="sgd",
                       weight_decay=5e-4, nesterov=True, warmup_epochs=1, min_lr=0.0,
                       why="the classic CIFAR ResNet recipe: SGD + Nesterov, lr 0.1 per 256 "
                           "images, weight decay 5e-4, cosine schedule"),
    # a ViT tuned for speed to accuracy on a GPU (not yet measured: no GPU in that session)
    "vit_tiny_fast": Recipe(
        model="vit_tiny_patch4_32", epochs=100, batch_size=512, lr=2e-3, warmup_epochs=5,
        label_smoothing=0.1, mix="both", model_overrides={"drop_path_rate": 0.1},
        why="a longer schedule (100 epochs: a ViT has no locality prior and needs many passes); "
            "CutMix/MixUp per sample (new images every epoch, so the long schedule does not "
            "overfit 50,000 images); label smoothing 0.1 (no over-confident logits on mixed "
            "labels); stochastic depth 0.1 (regularises the 6 blocks); lr 2e-3 with 5 warmup "
            "epochs (a large batch takes a large lr once the warmup has settled the norms)"),
    # the CPU recipe: a compact convolutional transformer sized for 2 cores and 30 minutes
    "cct_cpu": Recipe(
        model="cct_2_3x2_32", epochs=10, batch_size=128, lr=1.5e-3, warmup_epochs=0.3,
        weight_decay=0.05, label_smoothing=0.1, min_lr=1e-5, channels_last=True,
        hardware="cpu", model_overrides={"attn_dropout": 0.0, "drop_path_rate": 0.0},
        why="CCT-2/3x2 (Hassani et al. 2021): two conv stages make 64 tokens of width 128, so "
            "the 2 blocks are cheap and the convolutions give locality from the first step; "
            "on 2 idle cores an epoch with its evaluation took about 75 s, so the default 10 "
            "epochs take about 12.5 min, and --budget-s 1800 chose 22 epochs: 80% after "
            "26.5 min (RESULTS section 15); channels-last convolutions (measured 1.35x "
            "images per CPU-second of the step); no dropout or stochastic depth (so short a "
            "run underfits, regularisation only slows it); label smoothing 0.1; the standard "
            "crop + flip, per sample on the device path; a short warmup, then cosine decay"),
}


def first_crossings(log: list[dict], thresholds=THRESHOLDS, key: str = "test_top1") -> dict:
    """When the accuracy first reached each threshold.

    Args:
        log: one dict per evaluation, in order, with ``wall_s``, ``epoch`` and ``key``
            (an accuracy in [0, 1]).
        thresholds: accuracies in [0, 1].

    Returns:
        {"70": {"wall_s": ..., "epoch": ...} or None (never reached), "80": ..., ...}.
    """
    crossings = {}
    for threshold in thresholds:
        hit = next((row for row in log if row[key] >= threshold), None)
        label = f"{round(threshold * 100):d}"
        crossings[label] = None if hit is None else {"wall_s": hit["wall_s"],
                                                     "epoch": hit["epoch"]}
    return crossings


def hardware_facts(device: torch.device) -> dict:
    """The CPU model and threads, or the GPU's name, and a short slug for the file name."""
    from minivision import lesson

    facts = {"description": lesson.hardware(), "cpu_model": lesson.cpu_name(),
             "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
             "gpu_name": None}
    if device.type == "cuda":
        facts["gpu_name"] = torch.cuda.get_device_name(device)
        facts["slug"] = re.sub(r"[^a-z0-9]+", "-", facts["gpu_name"].lower()).strip("-")
    else:
        facts["slug"] = device.type
    return facts


def build_model(recipe: Recipe, info):
    """The recipe's model for a dataset's image size, channels and classes."""
    from minivision.models import create_model
    from minivision.models.cct import PRESETS as CCT_PRESETS
    from minivision.models.cct import CCTConfig, CompactTransformer
    from minivision.models.vit import VisionTransformer, ViTConfig

    shape = dict(num_classes=info.num_classes, image_size=info.image_size,
                 in_channels=info.in_channels)
    if not recipe.model_overrides:
        return create_model(recipe.model, **shape)
    if recipe.model in CCT_PRESETS:
        return CompactTransformer(CCTConfig.from_preset(recipe.model, **shape,
                                                        **recipe.model_overrides))
    return VisionTransformer(ViTConfig.from_preset(recipe.model, **shape,
                                                   **recipe.model_overrides))


def build_loaders(args, recipe: Recipe, device: torch.device):
    """Train and test loaders on the device path (uint8 images in memory, batches made there)."""
    from minivision.data import device_loader, get_dataset, in_memory_uint8, to_uint8

    train_n, test_n = (args.train_samples, args.test_samples)
    train = in_memory_uint8(get_dataset(args.dataset, train=True, transform=to_uint8,
                                        num_samples=train_n, download=False))
    test = in_memory_uint8(get_dataset(args.dataset, train=False, transform=to_uint8,
                                       num_samples=test_n, download=False))
    train_loader = device_loader(train, args.dataset, recipe.batch_size, train=True,
                                 device=device, mix=recipe.mix, seed=args.seed)
    test_loader = device_loader(test, args.dataset, 500, train=False, device=device)
    return train_loader, test_loader


def measured_images_per_s(model, loader, channels_last: bool, steps: int = 6) -> float:
    """Images/s of the training step (forward, backward, AdamW) on a copy of the model, timed
    over ``steps`` repeats of the loader's first batch after one warm-up step."""
    model = copy.deepcopy(model).train()
    x, y = next(iter(copy.copy(loader)))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for step in range(steps + 1):
        if step == 1:  # after the warm-up step (allocations, kernel choice)
            start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * len(x) / (time.perf_counter() - start)


def epochs_for_budget(budget_s: float, elapsed_s: float, images_per_s: float, train_n: int,
                      test_n: int, margin: float = 0.15) -> int:
    """The most epochs that end within ``budget_s`` of the command's start: an epoch costs its
    training images plus one evaluation (a forward pass, about a third of a training step per
    image), and ``margin`` is kept in hand for a machine that slows down."""
    epoch_s = (train_n + test_n / 3) / images_per_s
    return max(1, int((budget_s * (1 - margin) - elapsed_s) // epoch_s))


def train(args, recipe: Recipe) -> dict:
    """Train the recipe once; return the JSON's content."""
    from minivision.data import dataset_info
    from minivision.training import TrainConfig, fit

    device = torch.device(args.device)
    info = dataset_info(args.dataset)
    load_before = os.getloadavg()
    torch.manual_seed(args.seed)
    model = build_model(recipe, info)
    train_loader, test_loader = build_loaders(args, recipe, device)
    data_ready_s = time.perf_counter() - START
    print(f"[{data_ready_s:7.1f} s] data in memory: {len(train_loader.dataset):,} train, "
          f"{len(test_loader.dataset):,} test images; {recipe.model}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
    config = TrainConfig(
        epochs=args.epochs or recipe.epochs, optimizer=recipe.optimizer, lr=recipe.lr,
        weight_decay=recipe.weight_decay, momentum=recipe.momentum, nesterov=recipe.nesterov,
        warmup_epochs=recipe.warmup_epochs, min_lr=recipe.min_lr,
        label_smoothing=recipe.label_smoothing, channels_last=recipe.channels_last,
        amp=args.amp, device=str(device),
        seed=args.seed, progress=False, max_steps=args.max_steps)
    if args.budget_s is not None:  # as many epochs as fit the budget at the speed measured now
        speed = measured_images_per_s(model, train_loader, bool(recipe.channels_last))
        epochs = epochs_for_budget(args.budget_s, time.perf_counter() - START, speed,
                                   len(train_loader.dataset), len(test_loader.dataset))
        config = config.replace(epochs=epochs)
        print(f"[{time.perf_counter() - START:7.1f} s] training step: {speed:.0f} images/s; "
              f"{epochs} epochs fit the {args.budget_s:.0f} s budget", flush=True)
    log = []

    def on_epoch_end(record, _model):  # after the epoch's training and its test evaluation
        row = {"epoch": record["epoch"], "wall_s": time.perf_counter() - START,
               "train_s": record["epoch_time"], "test_top1": record["test_top1"],
               "train_loss": record["train_loss"], "images_per_s": record["images_per_s"]}
        log.append(row)
        print(f"[{row['wall_s']:7.1f} s] epoch {row['epoch']:3d}  train loss "
              f"{row['train_loss']:.3f}  test top-1 {row['test_top1']:.2%}  "
              f"({row['images_per_s']:.0f} images/s)", flush=True)

    fit(model, train_loader, test_loader=test_loader, config=config, on_epoch_end=on_epoch_end)
    total_s = time.perf_counter() - START
    train_s = sum(row["train_s"] for row in log)
    return {
        "recipe": args.recipe, "recipe_settings": asdict(recipe), "train_config": config.to_dict(),
        "dataset": args.dataset, "train_samples": len(train_loader.dataset),
        "test_samples": len(test_loader.dataset), "quick": args.quick, "seed": args.seed,
        "torch_version": torch.__version__, "hardware": hardware_facts(device),
        "command": " ".join(["python"] + sys.argv),
        "eval_cadence": "the whole test set after every epoch",
        # wall time outside the training epochs after the data was ready: evaluation, mostly
        "eval_share": (total_s - data_ready_s - train_s) / total_s,
        "budget_s": args.budget_s, "data_ready_s": data_ready_s, "total_wall_s": total_s,
        "time_to": first_crossings(log), "final_top1": log[-1]["test_top1"],
        "best_top1": max(row["test_top1"] for row in log), "log": log,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a named recipe on CIFAR-10 and report the wall time (from the start "
                    "of the command, data loading included) at which the test top-1 first "
                    "reaches 70, 80, 90 and 94%, as JSON in benchmarks/results/.",
        epilog="Recipes: " + "; ".join(f"{name}: {r.model} ({r.hardware})"
                                       for name, r in RECIPES.items()))
    parser.add_argument("recipe", choices=sorted(RECIPES), help="what to train")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads on a CPU (default 2: the course's 2-core machine)")
    parser.add_argument("--dataset", default="cifar10",
                        help="cifar10 (the JPEG copy), or builtin for a test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amp", default="auto", help="auto | none | bf16 | fp16")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--train-samples", type=int, default=None,
                        help="a class-balanced subset of the training set (default: all)")
    parser.add_argument("--test-samples", type=int, default=None)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--budget-s", type=float, default=None,
                        help="instead of the recipe's epochs, as many as end within this many "
                             "seconds of the command's start, at the training speed measured "
                             "on a few batches after the data is loaded (a shared CPU's speed "
                             "varies: 15%% is kept in hand)")
    parser.add_argument("--quick", action="store_true",
                        help="seconds-long check: 512 train and 256 test images, 2 epochs, at "
                             "most 16 steps (the JSON says quick: true)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the JSON's path (default: benchmarks/results/"
                             "time_to_accuracy_<recipe>_<hardware>.json)")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.train_samples = args.train_samples or 512
        args.test_samples = args.test_samples or 256
        args.epochs, args.max_steps = args.epochs or 2, args.max_steps or 16
    if args.amp == "none":
        args.amp = None
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    result = train(args, RECIPES[args.recipe])
    out = args.out or RESULTS / (f"time_to_accuracy_{args.recipe}_"
                                 f"{result['hardware']['slug']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    reached = ", ".join(f"{k}%: " + ("not reached" if v is None else f"{v['wall_s']:.0f} s")
                        for k, v in result["time_to"].items())
    print(f"final top-1 {result['final_top1']:.2%} after {result['total_wall_s']:.0f} s; "
          f"{reached}; written to {out}")
    return result


if __name__ == "__main__":
    main()

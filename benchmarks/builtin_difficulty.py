"""How hard is the built-in dataset? A linear classifier on pixels, a small CNN and the micro ViT,
each trained for the same wall-clock budget on the same images, then tested.

The claim this checks (issue: "hard enough that a linear classifier on pixels stays well below a
small CNN or ViT, easy enough that a small ViT passes 90% test accuracy within a minute of CPU
training"). Images are drawn once before the clocks start; each model then trains for
``--seconds`` (AdamW, warmup then cosine over the steps that fit, measured on a first pass).

    python benchmarks/builtin_difficulty.py                     # 60 s each, 2 threads
    python benchmarks/builtin_difficulty.py --seconds 30 --json out.json
"""
import argparse
import json
import math
import platform
import time

import torch
import torch.nn.functional as F
from torch import nn

from minivision import VisionTransformer
from minivision.data import BuiltinShapes, dataset_info
from minivision.models.registry import create_model


def draw(num: int, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 3, 32, 32) normalised, labels (N,)), drawn once."""
    data = BuiltinShapes(num, train=train)
    info = dataset_info("builtin")
    mean = torch.tensor(info.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.std).view(1, 3, 1, 1)
    images = torch.stack([data.render(i) for i in range(num)]).float() / 255
    return (images - mean) / std, torch.tensor(data.targets)


def train_for(model: nn.Module, x, y, *, seconds: float, lr: float, batch_size: int,
              flips: bool) -> tuple[int, float]:
    """Train until the clock runs out; returns (steps, seconds). Cosine over the planned steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    model.train()
    # a short timed probe plans the schedule: how many steps fit in the budget
    start = time.perf_counter()
    probe = 5
    for _ in range(probe):
        idx = torch.randint(0, len(x), (batch_size,))
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.zero_grad(set_to_none=True)
    planned = max(int(seconds / ((time.perf_counter() - start) / probe)), 10)
    warmup = max(planned // 20, 1)
    step, start = 0, time.perf_counter()
    generator = torch.Generator().manual_seed(0)
    while time.perf_counter() - start < seconds:
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            if time.perf_counter() - start >= seconds:
                break
            progress = min(step / planned, 1.0)
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * progress))
            images = x[idx]
            if flips:  # label-preserving on the built-in shapes
                flip = torch.rand(len(idx), generator=generator) < 0.5
                images = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
            loss = F.cross_entropy(model(images), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return step, time.perf_counter() - start


@torch.no_grad()
def accuracy(model: nn.Module, x, y) -> float:
    model.eval()
    return sum((model(xb).argmax(1) == yb).sum().item()
               for xb, yb in zip(x.split(500), y.split(500))) / len(y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget per model")
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--test", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    x_train, y_train = draw(args.train, True)
    x_test, y_test = draw(args.test, False)
    draw_ms = 1000 * (time.perf_counter() - start) / (args.train + args.test)
    print(f"drew {args.train:,} train + {args.test:,} test images: {draw_ms:.3f} ms per image")
    torch.manual_seed(0)
    models = {
        "linear (pixels)": (nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)), 1e-3),
        "small CNN (cnn)": (create_model("cnn", num_classes=10), 2e-3),
        "micro ViT (vit_micro_patch8_32)": (
            VisionTransformer.from_preset("vit_micro_patch8_32", num_classes=10), 2e-3),
    }
    results = {}
    for name, (model, lr) in models.items():
        steps, seconds = train_for(model, x_train, y_train, seconds=args.seconds, lr=lr,
                                   batch_size=128, flips=True)
        results[name] = {"test_acc": accuracy(model, x_test, y_test), "steps": steps,
                         "train_seconds": round(seconds, 1), "lr": lr}
        print(f"{name:34} test {results[name]['test_acc']:.1%}  ({steps} steps of 128 in "
              f"{seconds:.0f} s, lr {lr})", flush=True)
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    print("machine:", machine)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "machine": machine, "draw_ms_per_image": draw_ms,
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()

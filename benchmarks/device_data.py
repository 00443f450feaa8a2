"""Data on the device against today's host loaders: images/s of whole training epochs, paired.

Three loaders feed the same model (the same initial weights), batch size and augmentation to
``fit``, one epoch at a time, in alternating rounds (files, memory, device, files, ...), so that a
slow moment of the machine hits every path alike; the median over rounds is reported.

- files: the dataset read and transformed per image on every access (``minivision train``
  before issue 14; the built-in shapes are drawn on every access);
- memory: uint8 images decoded once (``in_memory``) with the per-image transforms (the lessons);
- device: ``device_loader``: uint8 images on the device, augmented per sample there.

It also times the training step alone on one fixed batch already on the device (as
``benchmarks/throughput.py`` does), so "epoch / step" is the share of the step's speed that a
whole epoch keeps: 1.0 means the loader costs nothing (issue 14's target on a GPU: >= 0.85).
Every figure is also given per CPU-second of this process: on a CPU shared with other jobs that
is the steadier measure; on a GPU read the wall-clock one.

    python benchmarks/device_data.py      # CPU: micro ViT, 2,048 built-in shapes, batch 128
    python benchmarks/device_data.py --device cuda --dataset cifar10 --train-samples 50000 \
        --batch-size 512 --rounds 3 --json benchmarks/results/device-data-gpu.json
"""
import argparse
import copy
import json
import statistics
import sys
import time

import torch

from minivision import lesson
from minivision.data import (InMemoryDataset, dataset_info, default_transforms, device_loader,
                             get_dataset, in_memory_uint8, make_loader, to_uint8)
from minivision.models import create_model
from minivision.training import fit, pick_amp


def build_loaders(args, device: torch.device) -> dict:
    """The three loaders of the same training images, augmentation and batch size."""
    name, n, B = args.dataset, args.train_samples, args.batch_size
    transform = default_transforms(name, train=True)
    files = get_dataset(name, train=True, num_samples=n, transform=transform)
    raw = in_memory_uint8(get_dataset(name, train=True, num_samples=n, transform=to_uint8))
    memory = InMemoryDataset(raw.images, raw.targets, raw.classes, transform=transform)
    workers = args.num_workers
    return {
        "files": make_loader(files, B, train=True, num_workers=workers),
        "memory": make_loader(memory, B, train=True, num_workers=workers),
        "device": device_loader(raw, name, B, train=True, device=device),
    }


def epoch_images_per_s(model, loader, args, device) -> tuple[float, float]:
    """Images per second of one whole ``fit`` epoch, data included: per second of wall-clock
    time (fit's own measure) and per CPU-second of this process (the whole call), which other
    processes on a shared CPU disturb less."""
    start = time.process_time()
    history = fit(copy.deepcopy(model), loader, epochs=1, lr=1e-3, warmup_epochs=0,
                  device=str(device), amp=args.amp, progress=False, seed=0)
    cpu_s = time.process_time() - start
    images = history[-1]["images_per_s"] * history[-1]["epoch_time"]
    return history[-1]["images_per_s"], images / cpu_s


def step_images_per_s(model, args, device, steps: int) -> tuple[float, float]:
    """Images per second (wall-clock, CPU) of the training step alone: one fixed batch, already
    on the device."""
    model = copy.deepcopy(model).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    amp = pick_amp(device) if args.amp == "auto" else args.amp
    dtype = {None: None, "none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    info = dataset_info(args.dataset)
    x = torch.randn(args.batch_size, info.in_channels, info.image_size, info.image_size,
                    device=device)
    y = torch.randint(0, info.num_classes, (args.batch_size,), device=device)

    def run(n):
        for _ in range(n):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(2)  # warm-up: allocator, kernels
    start, cpu_start = time.perf_counter(), time.process_time()
    run(steps)
    images = args.batch_size * steps
    return images / (time.perf_counter() - start), images / (time.process_time() - cpu_start)


def run(args) -> dict:
    device = torch.device(args.device)
    info = dataset_info(args.dataset)
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=info.num_classes, image_size=info.image_size,
                         in_channels=info.in_channels)
    loaders = build_loaders(args, device)
    paths = [p for p in ("files", "memory", "device") if p in args.paths]
    for path in paths:  # warm-up round, not counted
        epoch_images_per_s(model, loaders[path], args, device)
    rounds = {path: [] for path in paths + ["step"]}
    cpu_rounds = {path: [] for path in paths + ["step"]}
    steps = len(loaders[paths[0]])
    for _ in range(args.rounds):
        for path in paths:
            wall, cpu = epoch_images_per_s(model, loaders[path], args, device)
            rounds[path].append(wall)
            cpu_rounds[path].append(cpu)
        wall, cpu = step_images_per_s(model, args, device, steps)
        rounds["step"].append(wall)
        cpu_rounds["step"].append(cpu)
    median = {path: statistics.median(values) for path, values in rounds.items()}
    cpu_median = {path: statistics.median(values) for path, values in cpu_rounds.items()}
    # paired: the ratio within each round (a slow moment hits both paths), then the median
    ratios = {}
    for other in ("files", "memory"):
        if "device" in paths and other in paths:
            ratios[f"device / {other}"] = {
                kind: statistics.median(d / o for d, o in zip(table["device"], table[other]))
                for kind, table in (("wall", rounds), ("cpu", cpu_rounds))}
    return {"hardware": lesson.hardware(), "command": " ".join(["python"] + sys.argv),
            "settings": vars(args), "steps_per_epoch": steps,
            "images_per_s": rounds, "images_per_cpu_s": cpu_rounds,
            "median_images_per_s": median, "median_images_per_cpu_s": cpu_median,
            "paired_ratios": ratios,
            "epoch_over_step": {p: median[p] / median["step"] for p in paths},
            "epoch_over_step_cpu": {p: cpu_median[p] / cpu_median["step"] for p in paths}}


def report(result: dict) -> str:
    s, m = result["settings"], result["median_images_per_s"]
    c = result["median_images_per_cpu_s"]
    lines = [f"hardware: {result['hardware']}",
             (f"{s['model']} on {s['train_samples']:,} {s['dataset']} images, batch "
              f"{s['batch_size']}, {result['steps_per_epoch']} steps per epoch, amp {s['amp']}; "
              f"median of {s['rounds']} alternating rounds"), "",
             "| path | images/s | images per CPU-s | epoch / step (images/s) | (per CPU-s) |",
             "|---|---|---|---|---|"]
    for path, ratio in result["epoch_over_step"].items():
        cpu_ratio = result["epoch_over_step_cpu"][path]
        lines.append(f"| {path} (whole epoch) | {m[path]:.0f} | {c[path]:.0f} | {ratio:.3f} | "
                     f"{cpu_ratio:.3f} |")
    lines += [f"| step only (fixed batch) | {m['step']:.0f} | {c['step']:.0f} | 1 | 1 |", ""]
    for name, ratio in result["paired_ratios"].items():
        lines.append(f"{name}, median of the rounds' ratios: {ratio['wall']:.3f} (images/s), "
                     f"{ratio['cpu']:.3f} (images per CPU-s)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vit_micro_patch8_32")
    parser.add_argument("--dataset", default="builtin")
    parser.add_argument("--train-samples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", default="auto", choices=("auto", "none", "bf16", "fp16"))
    parser.add_argument("--num-workers", type=int, default=0, help="of the host loaders")
    parser.add_argument("--paths", nargs="+", default=["files", "memory", "device"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.amp = None if args.amp == "none" else args.amp
    result = run(args)
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()

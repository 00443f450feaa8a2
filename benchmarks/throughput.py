"""Training and inference throughput of minivision's ViT (explicit and fused attention) against
timm's VisionTransformer of the identical configuration.

All models are built in the same process, with the same weights, and timed in alternating
rounds (A, B, C, A, B, C, ...) so that a slow moment of the machine hits every model alike; the
median over rounds is reported, with ratios against timm.

    python benchmarks/throughput.py                          # CPU, vit_tiny_patch4_32, batch 128
    python benchmarks/throughput.py --device cuda --amp bf16 --batch-size 512
    python benchmarks/throughput.py --json results.json      # also write the numbers
"""
import argparse
import json
import platform
import statistics
import time

import timm
import torch

from minivision import ViTConfig, VisionTransformer


def build_models(config: ViTConfig, device: str) -> dict[str, torch.nn.Module]:
    """minivision (explicit, fused) and timm, all holding the same weights."""
    explicit = VisionTransformer(config.replace(fused_attn=False))
    fused = VisionTransformer(config.replace(fused_attn=True))
    fused.load_state_dict(explicit.state_dict())
    reference = timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=config.image_size,
        patch_size=config.patch_size,
        embed_dim=config.embed_dim,
        depth=config.depth,
        num_heads=config.num_heads,
        mlp_ratio=config.mlp_ratio,
        num_classes=config.num_classes,
    )
    from minivision.models.vit_import import load_timm

    # Prove the three compute the same function before timing them.
    check = load_timm(reference).eval()
    x = torch.randn(4, config.in_channels, config.image_size, config.image_size)
    with torch.no_grad():
        torch.testing.assert_close(check(x), reference.eval()(x), atol=1e-4, rtol=0)
    fused.load_state_dict(check.state_dict())
    explicit.load_state_dict(check.state_dict())
    models = {"minivision explicit": explicit, "minivision fused": fused, "timm": reference}
    return {name: m.to(device) for name, m in models.items()}


def make_step(model, mode: str, batch, amp_dtype, device: str):
    """One timed unit of work: a full training step, or a forward pass without gradients."""
    x, y = batch
    if mode == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            with torch.autocast(device_type=device, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return step
    model.eval()

    def step():
        with torch.no_grad(), torch.autocast(device_type=device, dtype=amp_dtype, enabled=amp_dtype is not None):
            model(x)

    return step


def time_steps(step, steps: int, device: str) -> float:
    """Seconds per step over `steps` steps (after synchronising the device)."""
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def run(args) -> dict:
    torch.manual_seed(0)
    config = ViTConfig.from_preset(args.preset, num_classes=10)
    models = build_models(config, args.device)
    if args.compile:
        models = {name: torch.compile(m) for name, m in models.items()}
    amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    x = torch.randn(args.batch_size, 3, config.image_size, config.image_size, device=args.device)
    y = torch.randint(0, 10, (args.batch_size,), device=args.device)
    results = {}
    for mode in ("train", "inference"):
        steps = {name: make_step(m, mode, (x, y), amp_dtype, args.device) for name, m in models.items()}
        for step in steps.values():  # warm-up: allocator, kernels, compilation
            time_steps(step, args.warmup, args.device)
        rounds = {name: [] for name in steps}
        for _ in range(args.rounds):
            for name, step in steps.items():
                rounds[name].append(args.batch_size / time_steps(step, args.steps, args.device))
        results[mode] = {name: statistics.median(v) for name, v in rounds.items()}
    return {"config": config.to_dict(), "settings": vars(args), "images_per_s": results, "machine": machine()}


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads (torch {torch.__version__})"


def report(result: dict) -> str:
    s = result["settings"]
    lines = [
        f"machine: {result['machine']}",
        f"model: {s['preset']}, batch {s['batch_size']}, device {s['device']}, amp {s['amp']}, compile {s['compile']}, "
        f"median of {s['rounds']} alternating rounds of {s['steps']} steps",
        "",
        "| mode | minivision explicit | minivision fused | timm | explicit / timm | fused / timm |",
        "|---|---|---|---|---|---|",
    ]
    for mode, r in result["images_per_s"].items():
        e, f, t = r["minivision explicit"], r["minivision fused"], r["timm"]
        lines.append(f"| {mode} (images/s) | {e:.1f} | {f:.1f} | {t:.1f} | {e / t:.3f} | {f / t:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="vit_tiny_patch4_32")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args)
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()

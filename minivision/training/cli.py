"""``minivision train``: train any registered model on any dataset from the command line.

    minivision train            # the micro ViT on the built-in shapes (about 1.5 minutes on a CPU)
    minivision train --model resnet18 --dataset cifar10 --epochs 30 --amp bf16 --compile
    minivision train --pretrained torchvision:vit_b_16 --dataset cifar10 --optimizer sgd --lr 0.01
    torchrun --nproc_per_node=4 -m minivision.training.cli --dataset cifar100 --epochs 100

It writes to --out: metrics.json (the History), history.png, config.json, last.pt and prev.pt;
``--resume`` continues from out/last.pt (or prev.pt if last.pt is damaged). The knobs are those of
a classic ``main.py``; argparse fills two dataclasses, :class:`RunArgs` (model, data, output) and
:class:`TrainConfig` (the optimisation). Every mistake the command can see before training (a bad
value, a missing GPU, an output folder it cannot write) is one ``error:`` line and exit code 2,
printed before anything is written; Ctrl-C and ``kill`` save the last step and exit with 130 / 143.

``--pretrained SPEC`` fine-tunes pretrained weights instead of training ``--model`` from scratch
(:mod:`minivision.models.pretrained` lists the SPECs); the two flags together are an error, since
the weights fix the architecture. config.json records the source, so ``--resume`` rebuilds the
model from that record without reading the weights again (and says so).
"""
import argparse
import contextlib
import json
import os
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ..runtime import seed_everything
from .checkpoint import CheckpointError, atomic_write_text
from .config import ConfigError, TrainConfig
from .interrupts import GracefulInterrupts, Interrupted
from ..models.pretrained import PREFIXES, Pretrained, load_pretrained, parse_spec
from .runlock import RunLock, RunLockedError

DATASET_NAMES = ("builtin", "builtin_distorted", "cifar10", "cifar100", "eurosat")
AUGMENTATIONS = ("none", "standard", "cutmix", "mixup")


@dataclass
class RunArgs:
    """What to train on what, and where the results go."""

    model: str | None = "vit_micro_patch8_32"  # None with --pretrained: the weights' ViT
    pretrained: str | None = None  # torchvision:NAME[:WEIGHTS], timm:NAME, hf:ORG/NAME or a path
    dataset: str = "builtin"
    data_root: str | None = None
    batch_size: int = 128
    augmentation: str = "standard"
    num_workers: int = 0
    data_on_device: bool | None = None  # None: on for CUDA (minivision.data.device_loader)
    train_samples: int | None = None  # None: the whole split (built-in: 10,000 / 2,000)
    test_samples: int | None = None
    out: str | None = None  # None: runs/<model or pretrained>-<dataset>


# The demo defaults: `minivision train` with no options trains the micro ViT (patch 8) on the
# built-in shapes: 12 epochs of 79 steps, about 1.5 minutes on a 2-core CPU (benchmarks/RESULTS.md).
DEMO_DEFAULTS = dict(epochs=12, lr=2e-3, warmup_epochs=1.0)


def build_parser() -> argparse.ArgumentParser:
    d, t = RunArgs(), TrainConfig(**DEMO_DEFAULTS)
    p = argparse.ArgumentParser(prog="minivision train", description=__doc__.split("\n")[0],
                                formatter_class=_DefaultsFormatter)
    p.add_argument("--model", default=None, help="a name from minivision.models.MODEL_NAMES, "
                   f"trained from scratch (default: {d.model}; not with --pretrained)")
    p.add_argument("--pretrained", default=None, metavar="SPEC", help=PRETRAINED_HELP)
    p.add_argument("--dataset", default=d.dataset, choices=DATASET_NAMES)
    p.add_argument("--data-root", default=d.data_root, help="folder holding the datasets")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--augmentation", default=d.augmentation, choices=AUGMENTATIONS)
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--data-on-device", action=argparse.BooleanOptionalAction,
                   default=d.data_on_device, help="keep the images on the GPU as uint8 and "
                   "augment there (default: on for CUDA, off elsewhere)")
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
                   help="continue from PATH, or from <out>/last.pt (else prev.pt) without a PATH")
    p.add_argument("--resume-anyway", action="store_true",
                   help="resume even if --batch-size, --dataset, --seed ... differ from the "
                        "checkpoint's")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


PRETRAINED_HELP = (
    "fine-tune pretrained weights instead of --model: torchvision:vit_b_16[:WEIGHTS], "
    "timm:vit_base_patch16_224, hf:google/vit-base-patch16-224 (read from the torch / Hugging "
    "Face caches, downloaded where there is a network), or a local path: a folder written by "
    "save_pretrained (transformers) or save_for_hf (timm), or a torchvision ViT state-dict file "
    "(torch.save(model.state_dict()), .safetensors). The head is replaced for the dataset's "
    "classes; images are resized to the model's image size and normalised with the weights' "
    "statistics where the source states them (else the dataset's); data stay on the host")


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None (which says nothing: the help text tells what happens)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def parse_args(argv) -> tuple[RunArgs, TrainConfig]:
    """Command-line words -> (RunArgs, TrainConfig); a ValueError for impossible values."""
    ns = build_parser().parse_args(argv)
    run = RunArgs(**{k: getattr(ns, k) for k in asdict(RunArgs())})
    _choose_model(run, ns.resume)
    run.out = run.out or str(Path("runs") / f"{_run_name(run)}-{run.dataset}")
    if run.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {run.batch_size}.")
    for name in ("train_samples", "test_samples"):
        if getattr(run, name) is not None and getattr(run, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be at least 1, got {getattr(run, name)}.")
    if isinstance(ns.resume, str) and not Path(ns.resume).is_file():
        raise ValueError(f"--resume {ns.resume}: no such checkpoint file.")
    out = Path(run.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose a folder (it is created).")
    if ns.resume is True and not any((out / name).is_file() for name in ("last.pt", "prev.pt")):
        raise ValueError(f"--resume without a path reads {out / 'last.pt'} (or prev.pt), which "
                         "do not exist; pass the checkpoint's path or the run's --out.")
    try:
        config = TrainConfig(
            epochs=ns.epochs, optimizer=ns.optimizer, lr=ns.lr, weight_decay=ns.weight_decay,
            momentum=ns.momentum, warmup_epochs=ns.warmup_epochs, min_lr=ns.min_lr, loss=ns.loss,
            label_smoothing=ns.label_smoothing, amp=None if ns.amp == "none" else ns.amp,
            compile=ns.compile, grad_clip=ns.grad_clip, device=ns.device, seed=ns.seed,
            out=run.out, checkpoint_every=ns.checkpoint_every, resume=ns.resume,
            resume_anyway=ns.resume_anyway, progress=not ns.no_progress, max_steps=ns.max_steps,
        )
    except ConfigError as err:  # name the flag, not the dataclass field
        raise ValueError(f"--{err.field.replace('_', '-')}: {err}") from err
    check_hardware(config)
    return run, config


def _choose_model(run: RunArgs, resume) -> None:
    """--model or --pretrained (never both); a resumed fine-tuning run takes its recorded SPEC."""
    record = recorded_pretrained(run.out, resume) if run.model is None else None
    if run.pretrained is None and record is not None:
        run.pretrained = record["spec"]
    if run.pretrained is None:
        run.model = run.model or RunArgs.model
        return
    if run.model is not None:
        raise ValueError(f"--model {run.model} and --pretrained {run.pretrained} both choose the "
                         "model: drop --model (the pretrained weights fix the architecture).")
    if record is None:  # an unknown prefix or a missing path: now, before any file is written
        parse_spec(run.pretrained)  # (a resume rebuilds the recorded model: no weights read)
    if run.data_on_device:
        raise ValueError("--data-on-device keeps the images at the dataset's size and statistics, "
                         "but --pretrained resizes them to the model's on the host: drop "
                         "--data-on-device.")
    run.data_on_device = False


def _run_name(run: RunArgs) -> str:
    """The default output folder's name: the model, or the pretrained SPEC made a file name."""
    if run.pretrained is None:
        return run.model
    kind, _, name = run.pretrained.partition(":")
    name = f"{kind}-{name}" if kind in PREFIXES else Path(run.pretrained).stem
    return name.replace("/", "-").replace(":", "-")


def recorded_pretrained(out: str | None, resume) -> dict | None:
    """The ``pretrained`` record in the config.json of the run being resumed (beside the
    checkpoint ``--resume PATH``, or in ``--out``), or None."""
    if not resume or (resume is True and out is None):
        return None
    folder = Path(resume).parent if isinstance(resume, str) else Path(out)
    try:
        data = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):  # no config.json, or not JSON: nothing recorded
        return None
    record = data.get("pretrained") if isinstance(data, dict) else None
    return record if isinstance(record, dict) and "vit_config" in record else None


def pretrained_for_run(run: RunArgs, config: TrainConfig) -> tuple[Pretrained, bool]:
    """The pretrained model of ``run``, and whether it was rebuilt from the resumed run's record
    (then its weights come from the checkpoint and the SPEC is not read again)."""
    from ..data import dataset_info

    record = recorded_pretrained(run.out, config.resume)
    if record is not None:
        return Pretrained.from_record(record), True
    return load_pretrained(run.pretrained, num_classes=dataset_info(run.dataset).num_classes), False


def check_hardware(config: TrainConfig) -> None:
    """A ValueError now, before any file is written, if --device or --amp asks for what is not
    here."""
    from .trainer import _amp_dtype
    from ..runtime import pick_device

    device = pick_device(config.device)
    with warnings.catch_warnings():  # the slow-bf16 warning comes again from fit
        warnings.simplefilter("ignore")
        _amp_dtype(config.amp, device)


def build_run(run: RunArgs, config: TrainConfig, pretrained: Pretrained | None = None):
    """The model and the two loaders named by ``run`` (with --pretrained: ``pretrained``'s model,
    loaded here if not given, and images resized and normalised for it)."""
    from ..data import (cutmix_mixup_collate, dataset_info, default_transforms, device_loader,
                        get_dataset, make_loader, to_uint8)
    from ..models.registry import MODEL_NAMES, create_model
    from ..runtime import pick_device

    if run.pretrained is None and run.model not in MODEL_NAMES:
        raise ValueError(f"unknown model {run.model!r}; choose one of: {', '.join(MODEL_NAMES)}.")
    if run.pretrained is not None and pretrained is None:
        pretrained = pretrained_for_run(run, config)[0]
    info = dataset_info(run.dataset)
    basic = "none" if run.augmentation == "none" else "standard"
    mix = run.augmentation if run.augmentation in ("cutmix", "mixup") else None
    on_device = run.data_on_device
    if on_device is None:  # on a GPU, per-image transforms on the host would set the pace
        on_device = pick_device(config.device).type == "cuda"
    transforms = pretrained.transforms if pretrained is not None else default_transforms
    train_transform = transforms(run.dataset, train=True, augmentation=basic)
    test_transform = transforms(run.dataset, train=False)
    if on_device:  # keep uint8 images: device_loader augments and normalises on the device
        train_transform = test_transform = to_uint8
    train_set = get_dataset(run.dataset, train=True, root=run.data_root,
                            num_samples=run.train_samples, transform=train_transform)
    test_set = get_dataset(run.dataset, train=False, root=run.data_root,
                           num_samples=run.test_samples, transform=test_transform)
    if on_device:
        device = None if config.device in (None, "cuda") else config.device
        train_loader = device_loader(train_set, run.dataset, run.batch_size, train=True,
                                     device=device, augmentation=basic, mix=mix,
                                     seed=config.seed, num_workers=run.num_workers)
        test_loader = device_loader(test_set, run.dataset, run.batch_size, train=False,
                                    device=device, num_workers=run.num_workers)
    else:
        collate = cutmix_mixup_collate(mix, info.num_classes) if mix is not None else None
        train_loader = make_loader(train_set, run.batch_size, train=True,
                                   num_workers=run.num_workers, seed=config.seed,
                                   collate_fn=collate)
        test_loader = make_loader(test_set, run.batch_size, train=False,
                                  num_workers=run.num_workers)
    if pretrained is not None:
        return pretrained.model, train_loader, test_loader
    model = create_model(run.model, num_classes=info.num_classes, image_size=info.image_size,
                         in_channels=info.in_channels)
    return model, train_loader, test_loader


def main(argv: list[str] | None = None) -> int:
    """Run ``minivision train``; returns the exit code: 0, 2 for a user error (one line on
    stderr), 1 if the loss diverged, 128 + the signal's number if interrupted (after saving)."""
    from ..data import DatasetNotFoundError
    from .trainer import NonFiniteLossError

    try:
        run, config = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:  # argparse: --help (0) or a malformed option (2, usage printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    except ValueError as err:
        return _error(err)
    seed_everything(config.seed)  # before the model and the data are built: same seed, same run
    is_main = int(os.environ.get("RANK", "0")) == 0
    try:  # Ctrl-C and SIGTERM raise Interrupted from here on (fit saves before it re-raises)
        with GracefulInterrupts(), RunLock(run.out) if is_main else contextlib.nullcontext():
            return _train(run, config, is_main)
    except (ValueError, DatasetNotFoundError, CheckpointError, RunLockedError) as err:
        return _error(err)
    except OSError as err:  # e.g. an ImageFolder split without images
        return _error(f"{err} (--dataset {run.dataset}, --data-root {run.data_root}); check "
                      "that every class folder of the split holds images.")
    except NonFiniteLossError as err:
        return _error(err, code=1)
    except Interrupted as err:
        last = Path(run.out) / "last.pt"
        if is_main and last.is_file():
            print(f"\n{err.args[0]}: stopped; the last completed step is saved in {last}; "
                  "continue with --resume", file=sys.stderr)
        elif is_main:
            print(f"\n{err.args[0]}: stopped before the first checkpoint.", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:  # outside fit (while building the data)
        return 130


def _train(run: RunArgs, config: TrainConfig, is_main: bool) -> int:
    from ..models.parameters import count_parameters
    from .history import plot_history
    from .trainer import fit

    pretrained, rebuilt = pretrained_for_run(run, config) if run.pretrained else (None, False)
    model, train_loader, test_loader = build_run(run, config, pretrained)
    out = Path(run.out)
    if is_main:
        record = {} if pretrained is None else {"pretrained": pretrained.record()}
        if not config.resume or not (out / "config.json").exists():  # a resume keeps the original
            atomic_write_text(out / "config.json", json.dumps(
                {"run": asdict(run), "train": config.to_dict(), **record}, indent=2))
        _print_pretrained(pretrained, rebuilt, run)
        print(f"{run.model or 'ViT from ' + run.pretrained} ({count_parameters(model):,} "
              f"parameters) on {run.dataset}: {len(train_loader.dataset):,} train / "
              f"{len(test_loader.dataset):,} test images -> {out}")
    run_info = {"model_name": run.model, "dataset_name": run.dataset,
                "augmentation": run.augmentation, "train_samples": run.train_samples,
                "pretrained": run.pretrained}
    history = fit(model, train_loader, test_loader=test_loader, config=config, run_info=run_info)
    if is_main:
        atomic_write_text(out / "metrics.json", json.dumps(history.records, indent=2))
        plot_history(history).savefig(out / "history.png", dpi=100)
        last = history[-1]
        print(f"final test accuracy: top-1 {100 * last['test_top1']:.2f}%, top-5 "
              f"{100 * last['test_top5']:.2f}% after {last['epoch']} epochs "
              f"({last['step']} steps); "
              f"best top-1 {100 * history.best('test_top1')['test_top1']:.2f}%")
    return 0


def _print_pretrained(pretrained: Pretrained | None, rebuilt: bool, run: RunArgs) -> None:
    if pretrained is None:
        return
    if rebuilt:
        print(f"--resume: the ViT fine-tuned from {pretrained.spec} is rebuilt from the record in "
              f"{run.out}/config.json; its weights come from the checkpoint (the pretrained "
              "weights are not read again)")
    for line in pretrained.describe(run.dataset):
        print(line)


def _error(err, code: int = 2) -> int:
    print(f"minivision train: error: {err}", file=sys.stderr)
    return code


if __name__ == "__main__":  # torchrun -m minivision.training.cli ...
    sys.exit(main())

"""TrainConfig: every knob of a training run in one dataclass (nanoGPT's config block, typed).

The model knows nothing about training; :func:`minivision.training.fit` reads this and nothing else.
Every field is checked when the config is made, so a typo fails at once with a message that names
the field, what it must be, what came and a value that works, instead of training to NaN.
"""
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

OPTIMIZERS = ("adamw", "sgd")
LOSSES = ("ce", "bce")
AMP_DTYPES = ("auto", None, "bf16", "fp16")
DEVICES = (None, "cuda", "mps", "cpu")


class ConfigError(ValueError):
    """A TrainConfig field has an impossible value; ``field`` names it (the CLI: its flag)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class TrainConfig:
    """Settings for :func:`~minivision.training.fit`. Override fields with keyword arguments:
    ``fit(model, loader, epochs=5, lr=1e-3)``.

    Learning rates are for the whole (global) batch; under torchrun every process uses them as is.
    """

    epochs: int = 10
    optimizer: str = "adamw"  # "adamw" | "sgd"
    lr: float = 1e-3
    weight_decay: float = 0.05  # never applied to biases, norms, pos_embed, cls_token
    momentum: float = 0.9  # SGD only
    nesterov: bool = False  # SGD only
    betas: tuple = (0.9, 0.999)  # AdamW only
    layer_decay: float | None = None  # layer-wise lr decay for fine-tuning (BEiT), e.g. 0.75
    warmup_epochs: float = 1.0  # linear warmup, then cosine decay to min_lr
    min_lr: float = 1e-5
    loss: str = "ce"  # "ce" | "bce"
    label_smoothing: float = 0.0
    amp: str | None = "auto"  # "auto" (pick_amp: bf16 / fp16 / None by device) | None | "bf16" | "fp16"
    compile: bool = False  # torch.compile the model
    channels_last: bool | None = None  # None: True for CNNs on CUDA
    grad_clip: float | None = None  # max global gradient norm
    device: str | None = None  # None: cuda, then mps, then cpu
    out: str | None = None  # folder for last.pt / prev.pt; None: no checkpoints
    checkpoint_every: int | None = None  # also save every this many steps (mid-epoch)
    resume: str | bool | None = None  # a checkpoint path, or True for out/last.pt (else prev.pt)
    resume_anyway: bool = False  # resume even if the batch size, data or seed have changed
    seed: int = 0
    progress: bool = True  # tqdm bars (notebook-aware); False silences them
    max_steps: int | None = None  # stop after this many steps (quick mode); so does the schedule

    def __post_init__(self):
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("amp", self.amp, AMP_DTYPES)
        _check_choice("device", self.device, DEVICES)
        _check_int("epochs", self.epochs, minimum=1, example=10)
        _check_int("seed", self.seed, minimum=0, example=0)
        for name in ("checkpoint_every", "max_steps"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1, example=100)
        _check_number("lr", self.lr, low=0, low_open=True, example="1e-3")
        _check_number("min_lr", self.min_lr, low=0, high=self.lr, example=f"{self.lr / 100:g}",
                      why=f"the schedule decays from lr={self.lr:g} down to min_lr")
        _check_number("weight_decay", self.weight_decay, low=0, example="0.05")
        _check_number("momentum", self.momentum, low=0, high=1, high_open=True, example="0.9")
        _check_number("warmup_epochs", self.warmup_epochs, low=0, example="1.0")
        _check_number("label_smoothing", self.label_smoothing, low=0, high=1, high_open=True,
                      example="0.1")
        if self.grad_clip is not None:
            _check_number("grad_clip", self.grad_clip, low=0, low_open=True, example="1.0",
                          why="the largest gradient norm allowed; None turns clipping off")
        if self.layer_decay is not None:
            _check_number("layer_decay", self.layer_decay, low=0, high=1, low_open=True,
                          example="0.75")
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ConfigError("betas", f"betas must be a pair (beta1, beta2), got {self.betas!r}; "
                                       "e.g. betas=(0.9, 0.999).")
        for beta in self.betas:
            _check_number("betas", beta, low=0, high=1, high_open=True, example="(0.9, 0.999)")
        for name in ("nesterov", "compile", "progress", "resume_anyway"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, f"{name} must be True or False, "
                                        f"got {getattr(self, name)!r}.")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError("nesterov", "nesterov=True needs optimizer='sgd' with momentum > 0, "
                                          f"got optimizer={self.optimizer!r}, "
                                          f"momentum={self.momentum}.")
        if not isinstance(self.out, (str, Path, type(None))):
            raise ConfigError("out", f"out must be a folder path or None, got {self.out!r}.")
        if not isinstance(self.resume, (str, Path, bool, type(None))):
            raise ConfigError("resume", f"resume must be a checkpoint path, True or None, got "
                                        f"{self.resume!r}.")
        if self.resume is True and self.out is None:
            raise ConfigError("resume", "resume=True reads out/last.pt, but out is None: set "
                                        "out=... or pass the checkpoint's path as resume=.")

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed; unknown names raise a ValueError listing the fields."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; "
                             f"the fields are {sorted(known)}.")
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain types only, so that it fits in a ``weights_only`` checkpoint and in JSON."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        data["resume"] = str(self.resume) if self.resume not in (None, True, False) else self.resume
        data["out"] = None if self.out is None else str(self.out)  # a Path would not unpickle
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        data["betas"] = tuple(data.get("betas", (0.9, 0.999)))
        return cls(**data)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ConfigError(name, f"{name} must be one of {list(choices)}, got {value!r}.")


def _check_int(name, value, *, minimum, example):
    """A whole number >= minimum (a bool or 2.5 is refused: epochs=2.5 has no meaning)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"{name} must be a whole number, got {value!r} "
                                f"({type(value).__name__}); e.g. {name}={example}.")
    if value < minimum:
        raise ConfigError(name, f"{name} must be at least {minimum}, got {value}; "
                                f"e.g. {name}={example}.")


def _check_number(name, value, *, low, high=math.inf, low_open=False, high_open=False, example,
                  why=""):
    """A finite real number in the interval [low, high] (ends open where asked)."""
    interval = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if high == math.inf:
        interval = "> 0" if low_open else f">= {low:g}"
    hint = f" ({why})" if why else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, f"{name} must be a number {interval}, got {value!r}; "
                                f"e.g. {name}={example}.")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        raise ConfigError(name, f"{name} must be a finite number {interval}{hint}, got {value}; "
                                f"e.g. {name}={example}.")

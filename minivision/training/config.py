"""TrainConfig: every knob of a training run in one dataclass (nanoGPT's config block, typed).

The model knows nothing about training; :func:`minivision.training.fit` reads this and nothing else.
"""
from dataclasses import asdict, dataclass, fields, replace

OPTIMIZERS = ("adamw", "sgd")
LOSSES = ("ce", "bce")
AMP_DTYPES = ("auto", None, "bf16", "fp16")
DEVICES = (None, "cuda", "mps", "cpu")


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
    resume: str | bool | None = None  # a checkpoint path, or True for out/last.pt
    seed: int = 0
    progress: bool = True  # tqdm bars (notebook-aware); False silences them
    max_steps: int | None = None  # stop after this many steps (quick mode); so does the schedule

    def __post_init__(self):
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("amp", self.amp, AMP_DTYPES)
        _check_choice("device", self.device, DEVICES)
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}.")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}.")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}.")
        for name in ("checkpoint_every", "max_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer or None, got {value}.")
        if self.resume is True and self.out is None:
            raise ValueError("resume=True reads out/last.pt, but out is None: set out=... "
                             "or pass the checkpoint's path as resume=.")

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
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")

"""Training: ``fit`` and ``evaluate``, checkpoints, schedules, metrics, fine-tuning, torchrun.

A lesson's training cell::

    model = VisionTransformer.from_preset("vit_micro_patch4_32", num_classes=10)
    history = fit(model, train_loader, test_loader=test_loader, epochs=10, lr=1e-3)
    plot_history(history)
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .finetune import (ProbeResult, apply_finetune_strategy, classifier_head, extract_features,
                       linear_probe, param_groups_lrd)
from .history import History, plot_history
from .losses import classification_loss
from .metrics import topk_accuracy
from .optim import build_optimizer, param_groups_weight_decay
from .schedule import build_scheduler, warmup_cosine
from .trainer import evaluate, fit
from .utils import count_parameters, pick_amp, pick_device, seed_everything, unwrap_model

__all__ = [
    "CheckpointError", "History", "ProbeResult", "TrainConfig", "apply_finetune_strategy",
    "build_optimizer", "build_scheduler", "classification_loss", "classifier_head",
    "count_parameters", "evaluate", "extract_features", "fit", "linear_probe", "load_checkpoint",
    "param_groups_lrd", "param_groups_weight_decay", "pick_amp", "pick_device", "plot_history",
    "save_checkpoint", "seed_everything", "topk_accuracy", "unwrap_model", "warmup_cosine",
]

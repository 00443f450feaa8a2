"""Training: ``fit`` and ``evaluate``, checkpoints, schedules, metrics, fine-tuning, torchrun.

A lesson's training cell::

    model = VisionTransformer.from_preset("vit_micro_patch4_32", num_classes=10)
    history = fit(model, train_loader, test_loader=test_loader, epochs=10, lr=1e-3)
    plot_history(history)

Another task trains through the same loop: ``fit(model_m, loader, task=MaskedRotationTask())``
(a :class:`~minivision.training.tasks.Task` says how a batch becomes a loss).
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .finetune import (ProbeResult, apply_finetune_strategy, classifier_head, extract_features,
                       linear_probe, param_groups_lrd)
from .history import History, plot_history
from .interrupts import Interrupted
from .losses import classification_loss
from .metrics import topk_accuracy
from .optim import build_optimizer, param_groups_weight_decay
from .runlock import RunLock
from .schedule import build_scheduler, warmup_cosine
from .tasks import ClassificationTask, Task, TaskOutput, task_generator
from .trainer import NonFiniteLossError, evaluate, fit
from ..models.parameters import count_parameters
from ..runtime import pick_amp, pick_device, seed_everything
from .wrappers import unwrap_model

__all__ = [
    "CheckpointError", "ClassificationTask", "History", "Interrupted", "NonFiniteLossError",
    "ProbeResult", "RunLock", "Task", "TaskOutput", "TrainConfig", "apply_finetune_strategy",
    "build_optimizer", "build_scheduler", "classification_loss", "classifier_head",
    "count_parameters", "evaluate", "extract_features", "fit", "linear_probe", "load_checkpoint",
    "param_groups_lrd", "param_groups_weight_decay", "pick_amp", "pick_device", "plot_history",
    "save_checkpoint", "seed_everything", "task_generator", "topk_accuracy", "unwrap_model",
    "warmup_cosine",
]

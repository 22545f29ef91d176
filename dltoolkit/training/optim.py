"""Optimisers and learning-rate schedules selectable by name, in the form ``configure_optimizers`` returns.

opt, sched = build_optimizer(model.parameters(), "sgd", lr=0.1, momentum=0.9, nesterov=True), None
config = build_schedule(opt, "cosine", total_steps=1000, steps_per_epoch=100, warmup_epochs=1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch.optim import Optimizer
from torch.optim import lr_scheduler as sched

from dltoolkit.catalog import unknown_name

OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop"]
ScheduleName = Literal["none", "step", "cosine", "onecycle", "plateau"]
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES: tuple[str, ...] = ("none", "step", "cosine", "onecycle", "plateau")


def build_optimizer(
    params: Iterable[Any],
    name: str,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    nesterov: bool = False,
) -> Optimizer:
    """A torch optimiser by name; ``momentum``/``nesterov`` apply to SGD (and momentum to RMSprop)."""
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise unknown_name("optimizer", name, list(OPTIMIZERS))


def build_schedule(
    optimizer: Optimizer,
    name: str,
    *,
    total_steps: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    step_epochs: int = 10,
    gamma: float = 0.1,
    monitor: str = "val/loss",
) -> dict[str, Any] | None:
    """A Lightning ``lr_scheduler`` config (stepped every batch) or ``None`` for a constant rate.

    ``warmup_epochs`` prepends a linear warm-up from 1% of the rate (Goyal et al., 2017) to ``step``
    and ``cosine``; ``onecycle`` has its own warm-up (Smith & Topin, 2019); ``plateau`` divides
    the rate by 1/``gamma`` when ``monitor`` stops improving, checked once an epoch.
    """
    if name == "none" and warmup_epochs <= 0:
        return None
    if name == "plateau":
        plateau = sched.ReduceLROnPlateau(
            optimizer, mode="min", factor=gamma, patience=max(1, step_epochs // 2)
        )
        return {"scheduler": plateau, "interval": "epoch", "monitor": monitor}
    total_steps = max(1, total_steps)
    if name == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        return {
            "scheduler": sched.OneCycleLR(optimizer, max_lr=max_lrs, total_steps=total_steps),
            "interval": "step",
        }
    warmup = int(warmup_epochs * steps_per_epoch)
    if name == "none":
        main: sched.LRScheduler = sched.LambdaLR(optimizer, lambda _: 1.0)
    elif name == "step":
        main = sched.StepLR(optimizer, step_size=max(1, step_epochs * steps_per_epoch), gamma=gamma)
    elif name == "cosine":
        main = sched.LambdaLR(
            optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total_steps - warmup))))
        )
    else:
        raise unknown_name("schedule", name, list(SCHEDULES))
    if warmup > 0:
        ramp = sched.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=warmup)
        main = sched.SequentialLR(optimizer, [ramp, main], milestones=[warmup])
    return {"scheduler": main, "interval": "step"}

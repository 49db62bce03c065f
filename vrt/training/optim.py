"""Optimisers and learning-rate schedules from their config sections."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from vrt.config import OptimizerConfig, SchedulerConfig


def build_optimizer(
    parameters: Iterable[torch.nn.Parameter], config: OptimizerConfig
) -> torch.optim.Optimizer:
    params = [p for p in parameters if p.requires_grad]
    if config.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=config.nesterov and config.momentum > 0,
        )
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.name == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.name!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: SchedulerConfig, *, epochs: int, warmup_epochs: int = 0
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    """A schedule stepped once per epoch; ``plateau`` is stepped with the validation mAP.

    With ``warmup_epochs`` w, the rate rises linearly from ``lr / (w + 1)`` to ``lr`` over the
    first w epochs and the schedule then runs over the remaining ``epochs - w``.
    """
    main = _schedule(optimizer, config, epochs=epochs - warmup_epochs)
    if not warmup_epochs:
        return main
    if isinstance(main, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("a warmup cannot precede the plateau schedule")  # refused by config validation
    warmup = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / (warmup_epochs + 1), total_iters=warmup_epochs
    )
    if main is None:
        return warmup
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warmup_epochs])


def _schedule(
    optimizer: torch.optim.Optimizer, config: SchedulerConfig, *, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    if config.name == "none":
        return None
    if config.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=config.min_lr)
    if config.name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=config.gamma, patience=config.patience, min_lr=config.min_lr
        )
    raise ValueError(f"unknown scheduler {config.name!r}")


def stretch_schedule(scheduler: object, *, epochs: int, warmup_epochs: int = 0) -> None:
    """After loading a checkpoint's schedule, fit a cosine schedule to the (new) number of epochs.

    A resumed run may be given more epochs; the cosine then ends at the new last epoch.
    """
    inner = getattr(scheduler, "_schedulers", [scheduler])
    for schedule in inner:
        if isinstance(schedule, torch.optim.lr_scheduler.CosineAnnealingLR):
            schedule.T_max = epochs - warmup_epochs

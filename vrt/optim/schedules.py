"""Learning-rate schedules: registered components built from ``train.scheduler``, stepped once
per epoch (``plateau`` with the validation mAP), after an optional linear warmup.

vrt injects the ``optimizer`` and the schedule's length in ``epochs``.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from vrt.components import build
from vrt.config.schema import ComponentSpec
from vrt.registry import SCHEDULERS

__all__ = ["Schedule", "build_scheduler", "stretch_schedule"]

Schedule = LRScheduler | ReduceLROnPlateau


@SCHEDULERS.register("none")
def constant(*, optimizer: Optimizer, epochs: int) -> None:
    """A constant learning rate."""
    return None


@SCHEDULERS.register("step")
def step(*, optimizer: Optimizer, epochs: int, step_size: int = 10, gamma: float = 0.1) -> Schedule:
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


@SCHEDULERS.register("cosine")
def cosine(*, optimizer: Optimizer, epochs: int, min_lr: float = 0.0) -> Schedule:
    """Cosine decay from the learning rate to ``min_lr`` over the run's epochs (after warmup)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=min_lr)


@SCHEDULERS.register("plateau")
def plateau(
    *, optimizer: Optimizer, epochs: int, gamma: float = 0.1, patience: int = 2, min_lr: float = 0.0
) -> Schedule:
    """Multiply the learning rate by ``gamma`` when validation mAP stalls for ``patience`` checks."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=gamma, patience=patience, min_lr=min_lr
    )


def build_scheduler(
    optimizer: Optimizer, spec: ComponentSpec, *, epochs: int, warmup_epochs: int = 0
) -> Schedule | None:
    """The schedule ``train.scheduler`` names, stepped once per epoch (``plateau`` with the
    validation mAP).

    With ``warmup_epochs`` w, the rate rises linearly from ``lr / (w + 1)`` to ``lr`` over the
    first w epochs and the schedule then runs over the remaining ``epochs - w``.
    """
    main = build(
        SCHEDULERS, spec, section="train.scheduler", optimizer=optimizer, epochs=epochs - warmup_epochs
    )
    if not warmup_epochs:
        return main
    if isinstance(main, ReduceLROnPlateau):
        raise ValueError("a warmup cannot precede the plateau schedule")  # refused by config validation
    warmup = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / (warmup_epochs + 1), total_iters=warmup_epochs
    )
    if main is None:
        return warmup
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warmup_epochs])


def stretch_schedule(scheduler: object, *, epochs: int, warmup_epochs: int = 0) -> None:
    """After loading a checkpoint's schedule, fit a cosine schedule to the (new) number of epochs.

    A resumed run may be given more epochs; the cosine then ends at the new last epoch.
    """
    for schedule in getattr(scheduler, "_schedulers", [scheduler]):
        if isinstance(schedule, torch.optim.lr_scheduler.CosineAnnealingLR):
            schedule.T_max = epochs - warmup_epochs

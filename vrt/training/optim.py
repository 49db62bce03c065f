"""Optimisers and learning-rate schedules: registered components, built from ``train.optimizer``
and ``train.scheduler`` like every other component.

Each kind has its own typed parameters (``sgd`` has ``momentum``, ``adam`` has ``betas``), so a
config that gives Adam a momentum is told so instead of being silently ignored. vrt injects the
model's ``params`` into optimisers, and the ``optimizer`` and the schedule's length in epochs
into schedules. The defaults of ``lr`` and ``weight_decay`` are the same for every optimiser
(0.01 and 5e-4), as they were when one flat section held every option.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.nn import Parameter
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from vrt.components import build
from vrt.config.schema import ComponentSpec
from vrt.registry import OPTIMIZERS, SCHEDULERS

Schedule = LRScheduler | ReduceLROnPlateau


def _positive(value: float, name: str) -> float:
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


@OPTIMIZERS.register("sgd")
def sgd(
    *,
    params: Iterable[Parameter],
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    nesterov: bool = False,
) -> Optimizer:
    """Stochastic gradient descent with momentum (Nesterov's when ``nesterov`` and momentum > 0)."""
    return torch.optim.SGD(
        list(params),
        lr=_positive(lr, "lr"),
        momentum=momentum,
        weight_decay=weight_decay,
        nesterov=nesterov and momentum > 0,
    )


def _register_adam(name: str, optimizer: type[Optimizer], description: str) -> None:
    """Adam and AdamW take the same parameters; their builder is written once."""

    def builder(
        *,
        params: Iterable[Parameter],
        lr: float = 0.01,
        weight_decay: float = 5e-4,
        betas: tuple[float, float] = (0.9, 0.999),
    ) -> Optimizer:
        return optimizer(list(params), lr=_positive(lr, "lr"), weight_decay=weight_decay, betas=betas)

    builder.__name__ = builder.__qualname__ = name
    OPTIMIZERS.add(name, builder, description=description)


_register_adam(
    "adam", torch.optim.Adam, "Adam; weight_decay is added to the gradient (L2), as in torch.optim.Adam."
)
_register_adam("adamw", torch.optim.AdamW, "AdamW: Adam with decoupled weight decay.")


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


def build_optimizer(parameters: Iterable[Parameter], spec: ComponentSpec) -> Optimizer:
    """The optimiser ``train.optimizer`` names, over the parameters that require gradients."""
    trainable = [p for p in parameters if p.requires_grad]
    return build(OPTIMIZERS, spec, section="train.optimizer", params=trainable)


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

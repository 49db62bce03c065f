"""Optimisers: registered components built from ``train.optimizer``.

Each has its own typed parameters (``sgd`` has ``momentum``, ``adam`` has ``betas``), so a
config that gives Adam a momentum is told so instead of being silently ignored. vrt injects the
model's ``params``. The defaults of ``lr`` and ``weight_decay`` are the same for every optimiser
(0.01 and 5e-4), as they were when one flat section held every option.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch.nn import Module, Parameter
from torch.optim import Optimizer

from vrt.components import build
from vrt.config.schema import ComponentSpec
from vrt.registry import OPTIMIZERS

__all__ = ["build_optimizer"]


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


def build_optimizer(modules: Iterable[Module], spec: ComponentSpec) -> Optimizer:
    """The optimiser ``train.optimizer`` names, over the parameters of ``modules`` that require
    gradients.

    A submodule with an ``lr_scale`` attribute learns at that multiple of the optimiser's rate
    (a fine-tuned pretrained encoder learns slower than the layers trained from scratch), in a
    parameter group of its own; schedules then scale every group alike.
    """
    groups: dict[float, list[Parameter]] = {}
    seen: set[int] = set()
    for module in modules:
        for scale, parameter in _scaled_parameters(module, 1.0):
            if parameter.requires_grad and id(parameter) not in seen:
                seen.add(id(parameter))
                groups.setdefault(scale, []).append(parameter)
    # The unscaled group first: param_groups[0]["lr"] is the rate the logs report.
    ordered = sorted(groups.items(), key=lambda item: item[0] != 1.0)
    params = [{"params": members, "lr_scale": scale} for scale, members in ordered]
    optimizer = build(OPTIMIZERS, spec, section="train.optimizer", params=params)
    for group in optimizer.param_groups:
        group["lr"] *= group["lr_scale"]
    return optimizer


def _scaled_parameters(module: Module, scale: float) -> Iterator[tuple[float, Parameter]]:
    """Every parameter of ``module`` with its learning-rate multiple (the nearest ``lr_scale``)."""
    scale = float(getattr(module, "lr_scale", scale))
    for parameter in module.parameters(recurse=False):
        yield scale, parameter
    for child in module.children():
        yield from _scaled_parameters(child, scale)

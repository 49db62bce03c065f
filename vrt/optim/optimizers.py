"""Optimisers: registered components built from ``train.optimizer``.

Each has its own typed parameters (``sgd`` has ``momentum``, ``adam`` has ``betas``), so a
config that gives Adam a momentum is told so instead of being silently ignored. vrt injects the
model's ``params``. The defaults of ``lr`` and ``weight_decay`` are the same for every optimiser
(0.01 and 5e-4), as they were when one flat section held every option.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.nn import Parameter
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


def build_optimizer(parameters: Iterable[Parameter], spec: ComponentSpec) -> Optimizer:
    """The optimiser ``train.optimizer`` names, over the parameters that require gradients."""
    trainable = [p for p in parameters if p.requires_grad]
    return build(OPTIMIZERS, spec, section="train.optimizer", params=trainable)

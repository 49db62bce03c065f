"""The loss contract and the helpers losses share: input checks, pair masks, a stable softplus.

Pair and triplet losses compute one loss per pair or triplet and hand them to a reducer
(:mod:`vrt.losses.reducers`); a miner (:mod:`vrt.losses.miners`) may choose which ones count.

:class:`HashingLoss` is what a loss subclasses (as pytorch-metric-learning's
``BaseMetricLossFunction``): its ``forward`` checks the batch once, in one place, and calls the
subclass's :meth:`~HashingLoss.compute` with float embeddings. A loss built with the code length
or the class count (``bits``, ``num_classes``, injected by vrt) has those checked too.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TypeVar

import torch
from torch import Tensor, nn

C = TypeVar("C")


class HashingLoss(nn.Module, ABC):
    """A loss over one batch: ``forward(embeddings (B, bits), labels (B,)) -> scalar tensor``.

    Subclasses implement :meth:`compute`; ``forward`` hands it embeddings already checked and
    cast to float32 (float64 kept), and labels checked to be ``(B,)`` integers and cast to int64
    (what indexing and ``cross_entropy`` take; a uint8 index would act as a mask). Set ``bits`` or
    ``num_classes`` in ``__init__`` when the loss holds tensors of those sizes (a classifier,
    hash centres): the batch is then checked against them as well. A subclass that does not
    implement :meth:`compute` cannot be instantiated.
    """

    bits: int | None = None
    num_classes: int | None = None

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        name = type(self).__name__
        check_inputs(embeddings, labels, loss=name)
        if self.bits is not None and embeddings.shape[1] != self.bits:
            raise ValueError(
                f"{name} was built for {self.bits} bits, got embeddings of {embeddings.shape[1]}"
            )
        if self.num_classes is not None and len(labels):
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= self.num_classes:
                raise ValueError(
                    f"{name} was built for labels 0..{self.num_classes - 1}, got labels in [{low}, {high}]"
                )
        return self.compute(as_float(embeddings), labels.long())

    @abstractmethod
    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """The loss of a checked batch (float embeddings, int64 labels); a 0-d tensor."""


def check_inputs(embeddings: Tensor, labels: Tensor, *, loss: str) -> None:
    """Embeddings ``(B, bits)`` and integer labels ``(B,)`` of one batch, or a clear ValueError."""
    if embeddings.ndim != 2 or labels.ndim != 1 or embeddings.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{loss} expected embeddings (B, bits) and labels (B,), got {tuple(embeddings.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"{loss} expected integer labels, got {labels.dtype}")


def as_float(embeddings: Tensor) -> Tensor:
    """float32 (float64 kept): pair losses sum many terms, which half precision resolves poorly."""
    return embeddings if embeddings.dtype in (torch.float32, torch.float64) else embeddings.float()


def pair_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(similar, dissimilar)`` bool masks over ordered pairs ``i != j`` (same label / other label)."""
    same = labels[:, None] == labels[None, :]
    not_self = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & not_self, ~same


def log1p_exp(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``.

    Exact for every x, unlike ``F.softplus``'s linear cut-off above ``threshold``.
    """
    return x.clamp_min(0.0) + torch.log1p(torch.exp(-x.abs()))


def check_component(component: C, *, kind: str, loss: str) -> C:
    """A built miner or reducer (any callable), or ``None``; a name is refused with the reason.

    vrt builds a loss's miner and reducer from their config sections and passes the objects
    (:func:`vrt.components.build`); a loss never looks a name up itself.
    """
    if component is not None and not callable(component):
        raise TypeError(
            f"{loss}'s {kind} must be a built {kind} or None, got {component!r}; vrt builds it from "
            f"the config's {kind} section (vrt.components.build)"
        )
    return component


def check_positive(value: float, *, name: str, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0), for constructor arguments."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)

"""Reducer ``mean_active``: the average over the selected elements with a positive loss."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.losses.reducers.base import Reducer, selected
from vrt.registry import REDUCERS


class MeanActiveReducer(Reducer):
    """``sum(selected losses) / number of selected losses > 0`` (0 when none is positive).

    pytorch-metric-learning's ``AvgNonZeroReducer``: late in training most triplets are satisfied
    (a hinge of 0), and dividing by all of them would fade the gradient of the few still
    violated; dividing by the active ones keeps it at full strength. For a loss that is positive
    on every element (a likelihood) it equals ``mean``.
    """

    def reduce(self, losses: Tensor, mask: Tensor | None) -> Tensor:
        values = selected(losses, mask)
        active = (values > 0).sum().to(values.dtype)
        return values.sum() / active.clamp_min(1.0)


@REDUCERS.register("mean_active")
def mean_active() -> nn.Module:
    """Average over the selected pairs or triplets whose loss is positive (PML's AvgNonZeroReducer)."""
    return MeanActiveReducer()

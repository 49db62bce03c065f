"""Reducer ``mean``: the average over every selected element."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.losses.reducers.base import Reducer, count, selected
from vrt.registry import REDUCERS


class MeanReducer(Reducer):
    """``sum(selected losses) / number selected`` (0 when nothing is selected).

    Satisfied elements (a loss of 0) count in the divisor, so the loss shrinks as training
    satisfies more pairs or triplets (pytorch-metric-learning's ``MeanReducer``).
    """

    def reduce(self, losses: Tensor, mask: Tensor | None) -> Tensor:
        return selected(losses, mask).sum() / count(losses, mask).clamp_min(1.0)


@REDUCERS.register("mean")
def mean() -> nn.Module:
    """Average over every selected pair or triplet, satisfied ones included."""
    return MeanReducer()

"""Reducer ``sum``: the total over the selected elements."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.losses.reducers.base import Reducer, selected
from vrt.registry import REDUCERS


class SumReducer(Reducer):
    """``sum(selected losses)``: grows with the number of pairs or triplets, so with the batch size
    (the learning rate then has to shrink with it)."""

    def reduce(self, losses: Tensor, mask: Tensor | None) -> Tensor:
        return selected(losses, mask).sum()


@REDUCERS.register("sum")
def sum_() -> nn.Module:
    """Total over the selected pairs or triplets (scales with the batch size)."""
    return SumReducer()

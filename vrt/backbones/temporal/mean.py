"""Temporal module ``mean``: the average of the frames' features (no parameters)."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.backbones.temporal.base import TemporalModule, visible_mean
from vrt.registry import TEMPORAL_MODULES


class MeanPool(TemporalModule):
    """The mean feature over the (visible) frames; ``out_dim = in_dim``. Order-blind: it cannot
    tell a clip from the clip played backwards, so it cannot learn a direction of motion."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.in_dim = self.out_dim = in_dim

    def summarise(self, features: Tensor, mask: Tensor | None) -> Tensor:
        return visible_mean(features, mask)


@TEMPORAL_MODULES.register("mean")
def mean(*, in_dim: int) -> nn.Module:
    """Average of the frames' features (no parameters; blind to frame order)."""
    return MeanPool(in_dim)

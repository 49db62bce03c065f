"""Regulariser ``quantization``: push every unit of the code towards +-1."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.losses.base import HashingLoss
from vrt.registry import LOSSES


class QuantizationLoss(HashingLoss):
    """``mean((|u| - 1)^2)`` over samples and bits.

    Binarising ``u`` at 0 loses whatever a unit's distance from +-1 encoded; this term shrinks
    that gap, so the Hamming ranking matches the real-valued one the main loss optimised. Its
    gradient vanishes at +-1 and is bounded near 0 (unlike ``-log|u|`` style penalties).
    """

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return (embeddings.abs() - 1).square().mean()


@LOSSES.register("quantization")
def quantization() -> nn.Module:
    """Regulariser: mean((|u| - 1)^2), pushes code units to +-1; add it as a weighted term."""
    return QuantizationLoss()

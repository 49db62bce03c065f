"""The reference hash head: one linear layer to ``bits`` units, squashed by tanh."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.heads.base import HashHead
from vrt.registry import HEADS


class LinearHashHead(HashHead):
    """``tanh(W x + b)``: real-valued codes in (-1, 1) whose signs become the bits.

    tanh rather than a hard sign keeps the ranking loss differentiable while pushing units
    towards +-1, so binarising at 0 loses little of what the loss optimised.
    """

    def __init__(self, *, in_dim: int, bits: int) -> None:
        super().__init__(in_dim=in_dim, bits=bits)
        self.fc = nn.Linear(in_dim, bits)

    def project(self, features: Tensor) -> Tensor:
        return self.fc(features).tanh()


@HEADS.register("linear")
def linear(*, in_dim: int, bits: int) -> nn.Module:
    """Linear -> tanh (the reference design); bits any positive multiple of 8."""
    return LinearHashHead(in_dim=in_dim, bits=bits)

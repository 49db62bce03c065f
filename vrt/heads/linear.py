"""The reference hash head: one linear layer to ``bits`` units, squashed by tanh."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.heads.base import HashHead
from vrt.registry import HEADS


class LinearHashHead(HashHead):
    """``tanh(W x + b)``: real-valued codes in (-1, 1) whose signs become the bits.

    tanh rather than a hard sign keeps the ranking loss differentiable while pushing units
    towards +-1, so binarising at 0 loses little of what the loss optimised. With
    ``layer_norm``, the ``bits`` pre-activations of each code are normalised to mean 0 and
    variance 1 (a LayerNorm) before the tanh, as ConMH's hash layer does: every code then has
    about as many bits on as off, which objectives without labels need to keep bits from
    settling on one value for every video.
    """

    def __init__(self, *, in_dim: int, bits: int, layer_norm: bool = False) -> None:
        super().__init__(in_dim=in_dim, bits=bits)
        self.fc = nn.Linear(in_dim, bits)
        self.norm = nn.LayerNorm(bits) if layer_norm else nn.Identity()

    def project(self, features: Tensor) -> Tensor:
        return self.norm(self.fc(features)).tanh()


@HEADS.register("linear")
def linear(*, in_dim: int, bits: int, layer_norm: bool = False) -> nn.Module:
    """Linear -> tanh (the reference design); bits any positive multiple of 8.

    Args:
        layer_norm: normalise each code's pre-activations over its bits before the tanh
            (ConMH's hash layer), which balances every code's bits.
    """
    return LinearHashHead(in_dim=in_dim, bits=bits, layer_norm=layer_norm)

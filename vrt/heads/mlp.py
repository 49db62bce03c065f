"""A two-layer hash head: a hidden layer with BatchNorm and ReLU before the code layer."""

from __future__ import annotations

import math

from torch import Tensor, nn

from vrt.heads.base import HashHead
from vrt.registry import HEADS


class MLPHashHead(HashHead):
    """``tanh(W2 dropout(relu(bn(W1 x))) + b2)``.

    A nonlinear layer between a frozen or pretrained backbone and the codes lets the head
    re-mix features the backbone learned for classification, which a single linear map cannot.
    The first linear layer has no bias because BatchNorm's shift replaces it. BatchNorm makes the
    head's output depend on the batch in training mode, so it needs batches of two or more
    (the runner skips smaller ones) and ``model.eval()`` before encoding.
    """

    def __init__(self, *, in_dim: int, bits: int, hidden: int = 1024, dropout: float = 0.0) -> None:
        super().__init__(in_dim=in_dim, bits=bits)
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden <= 0:
            raise ValueError(f"mlp head hidden must be a positive int, got {hidden!r}")
        if not (isinstance(dropout, (int, float)) and math.isfinite(dropout) and 0.0 <= dropout < 1.0):
            raise ValueError(f"mlp head dropout must be in [0, 1), got {dropout!r}")
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.hidden = nn.Sequential(*layers)
        self.fc = nn.Linear(hidden, bits)

    def project(self, features: Tensor) -> Tensor:
        return self.fc(self.hidden(features)).tanh()


@HEADS.register("mlp")
def mlp(*, in_dim: int, bits: int, hidden: int = 1024, dropout: float = 0.0) -> nn.Module:
    """Linear -> BatchNorm -> ReLU -> (Dropout) -> Linear -> tanh; hidden width and dropout configurable.

    Args:
        hidden: width of the hidden layer.
        dropout: dropout probability after the hidden layer, in [0, 1); 0 disables it.
    """
    return MLPHashHead(in_dim=in_dim, bits=bits, hidden=hidden, dropout=dropout)

"""Regulariser ``bit_balance``: every bit should be 1 for about half of the videos."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.losses.base import HashingLoss
from vrt.registry import LOSSES


class BitBalanceLoss(HashingLoss):
    """``mean over bits of (mean over the batch of u)^2``.

    A bit that is the same for every video carries no information (and a code of such bits
    ranks everything equally). A zero batch mean means the bit splits the batch in half, the
    maximum-entropy use of it. With a single sample the term is just ``mean(u^2)``; it is meant
    for batches that cover several classes.
    """

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return embeddings.mean(dim=0).square().mean()


@LOSSES.register("bit_balance")
def bit_balance() -> nn.Module:
    """Regulariser: mean over bits of (batch mean of u)^2, so each bit is +1 for half the batch."""
    return BitBalanceLoss()

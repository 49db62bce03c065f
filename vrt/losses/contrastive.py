"""Contrastive (pairwise margin) loss of Hadsell, Chopra and LeCun (2006), on Euclidean distance."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vrt.losses.base import HashingLoss, check_positive, masked_mean, pair_masks
from vrt.losses.distances import pairwise_squared_distances
from vrt.registry import LOSSES

# sqrt'(0) is infinite; clamping first keeps every pair's gradient finite, including the masked-out
# diagonal, whose inf * 0 would otherwise turn the whole gradient into NaN.
_MIN_SQUARED_DISTANCE = 1e-12


class ContrastiveLoss(HashingLoss):
    """``mean over pairs i != j of  s_ij * D^2 / 2 + (1 - s_ij) * max(0, m - D)^2 / 2``.

    ``D = |u_i - u_j|`` is the plain Euclidean distance, as in Hadsell et al. (2006, eq. 4):
    similar pairs are pulled together by their squared distance, dissimilar pairs are pushed
    until they are ``margin`` apart and then left alone. Codes of ``bits`` units in (-1, 1)
    are at most ``2 sqrt(bits)`` apart, and sign vectors differing in ``h`` bits are exactly
    ``2 sqrt(h)`` apart, so ``margin = sqrt(2 bits)`` asks dissimilar codes to differ in about
    half their bits (the same target as DSH's ``m = 2 bits`` on squared distances).

    Every ordered pair counts once (the mean equals the mean over unordered pairs).
    """

    def __init__(self, margin: float) -> None:
        super().__init__()
        self.margin = check_positive(margin, name="contrastive margin")

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        squared = pairwise_squared_distances(embeddings)
        distances = squared.clamp_min(_MIN_SQUARED_DISTANCE).sqrt()
        similar, dissimilar = pair_masks(labels)
        per_pair = torch.where(similar, 0.5 * squared, 0.5 * (self.margin - distances).relu().square())
        return masked_mean(per_pair, similar | dissimilar)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


@LOSSES.register("contrastive")
def contrastive(*, bits: int, margin: float | None = None) -> nn.Module:
    """Pairwise margin loss (Hadsell et al. 2006) on Euclidean distance; margin defaults to sqrt(2*bits).

    Args:
        margin: distance beyond which dissimilar pairs stop being pushed apart, in Euclidean
            units; ``None`` picks ``sqrt(2 * bits)``, codes differing in about half their bits.
    """
    return ContrastiveLoss(margin=math.sqrt(2 * bits) if margin is None else margin)

"""Contrastive (pairwise margin) loss of Hadsell, Chopra and LeCun (2006), on Euclidean distance."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vrt.components import default_section
from vrt.losses.base import HashingLoss, check_component, check_positive, pair_masks
from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.miners.base import MinerFunction
from vrt.losses.miners.conversions import gather_pairs, mined_pairs
from vrt.losses.reducers.base import ReducerFunction
from vrt.losses.reducers.mean import MeanReducer
from vrt.registry import LOSSES

# sqrt'(0) is infinite; clamping first keeps every pair's gradient finite, including the masked-out
# diagonal, whose inf * 0 would otherwise turn the whole gradient into NaN.
_MIN_SQUARED_DISTANCE = 1e-12


class ContrastiveLoss(HashingLoss):
    """``s_ij * D^2 / 2 + (1 - s_ij) * max(0, m - D)^2 / 2`` per pair, reduced over the pairs.

    ``D = |u_i - u_j|`` is the plain Euclidean distance, as in Hadsell et al. (2006, eq. 4):
    similar pairs are pulled together by their squared distance, dissimilar pairs are pushed
    until they are ``margin`` apart and then left alone. Codes of ``bits`` units in (-1, 1)
    are at most ``2 sqrt(bits)`` apart, and sign vectors differing in ``h`` bits are exactly
    ``2 sqrt(h)`` apart, so ``margin = sqrt(2 bits)`` asks dissimilar codes to differ in about
    half their bits (the same target as DSH's ``m = 2 bits`` on squared distances).

    Without a miner every ordered pair ``i != j`` counts once (the mean equals the mean over
    unordered pairs); with one, the pairs it selects (a triplet's ``(a, p)`` and ``(a, n)``).
    The reducer (default ``mean``) averages the per-pair losses.
    """

    def __init__(
        self, margin: float, miner: MinerFunction | None = None, reducer: ReducerFunction | None = None
    ) -> None:
        super().__init__()
        self.margin = check_positive(margin, name="contrastive margin")
        self.miner = check_component(miner, kind="miner", loss="contrastive")
        reducer = check_component(reducer, kind="reducer", loss="contrastive")
        self.reducer = MeanReducer() if reducer is None else reducer

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        squared = pairwise_squared_distances(embeddings)
        distances = squared.clamp_min(_MIN_SQUARED_DISTANCE).sqrt()
        pull, push = 0.5 * squared, 0.5 * (self.margin - distances).relu().square()
        if self.miner is None:
            similar, dissimilar = pair_masks(labels)
            return self.reducer(torch.where(similar, pull, push), similar | dissimilar)
        pairs = mined_pairs(self.miner, embeddings, labels)
        return self.reducer(torch.cat([gather_pairs(pull, pairs)[0], gather_pairs(push, pairs)[1]]))

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


# The sections vrt builds when the config sets none (a resolved config shows these names).
_MEAN = default_section("mean")


@LOSSES.register("contrastive")
def contrastive(
    *,
    bits: int,
    margin: float | None = None,
    miner: MinerFunction | None = None,
    reduction: ReducerFunction = _MEAN,
) -> nn.Module:
    """Pairwise margin loss (Hadsell et al. 2006) on Euclidean distance; margin defaults to sqrt(2*bits).

    Args:
        margin: distance beyond which dissimilar pairs stop being pushed apart, in Euclidean
            units; ``None`` picks ``sqrt(2 * bits)``, codes differing in about half their bits.
        miner: a registered miner choosing the pairs (``vrt list miners``); ``None``, every
            pair. Miners measure squared distances, so set a miner's ``margin`` in its section:
            unset, it would take this Euclidean one.
        reduction: a registered reducer over the per-pair losses: ``mean``, ``mean_active``
            (the pairs with a positive loss) or ``sum``.
    """
    return ContrastiveLoss(
        margin=math.sqrt(2 * bits) if margin is None else margin, miner=miner, reducer=reduction
    )

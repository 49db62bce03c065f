"""Miner ``pair_margin``: positive pairs too far apart and negative pairs too close (pytorch-metric-learning's PairMarginMiner)."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.losses.base import check_positive, pair_masks
from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.miners.base import Miner, Pairs
from vrt.registry import MINERS


class PairMarginMiner(Miner):
    """Positive pairs with ``d(a, p) > pos_margin`` and negative pairs with ``d(a, n) < neg_margin``.

    The pairs a pair loss still has to work on: positives not yet close enough, negatives not
    yet far enough. Distances are squared Euclidean between codes (4 per differing bit of
    saturated codes: ``pos_margin: 8`` keeps positives more than about 2 bits apart,
    ``neg_margin: 96`` negatives less than about 24 bits apart). Ordered pairs, each once.
    A triplet loss gets every triplet formed by a selected positive and negative pair that share
    their anchor.
    """

    def __init__(self, pos_margin: float, neg_margin: float) -> None:
        super().__init__()
        self.pos_margin = check_positive(pos_margin, name="pair_margin miner pos_margin", allow_zero=True)
        self.neg_margin = check_positive(neg_margin, name="pair_margin miner neg_margin")

    def mine(self, embeddings: Tensor, labels: Tensor) -> Pairs:
        distances = pairwise_squared_distances(embeddings)
        similar, dissimilar = pair_masks(labels)
        positive_anchors, positives = (similar & (distances > self.pos_margin)).nonzero(as_tuple=True)
        negative_anchors, negatives = (dissimilar & (distances < self.neg_margin)).nonzero(as_tuple=True)
        return Pairs(positive_anchors, positives, negative_anchors, negatives)

    def extra_repr(self) -> str:
        return f"pos_margin={self.pos_margin}, neg_margin={self.neg_margin}"


@MINERS.register("pair_margin")
def pair_margin(*, pos_margin: float, neg_margin: float) -> nn.Module:
    """Positive pairs farther apart than pos_margin and negative pairs closer than neg_margin (squared distances).

    Args:
        pos_margin: keep a positive pair whose squared distance exceeds it (>= 0).
        neg_margin: keep a negative pair whose squared distance is below it (> 0).
    """
    return PairMarginMiner(pos_margin=pos_margin, neg_margin=neg_margin)

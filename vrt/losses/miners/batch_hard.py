"""Miner ``batch_hard``: each anchor's farthest positive and closest negative (Hermans et al. 2017)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.miners.base import Miner, Triplets
from vrt.registry import MINERS


class BatchHardMiner(Miner):
    """One triplet per anchor: ``(a, argmax_p d(a, p), argmin_n d(a, n))``.

    Hermans, Beyer and Leibe, "In Defense of the Triplet Loss for Person Re-Identification" (2017):
    with P x K batches the hardest pair per anchor gives a stronger signal than averaging over
    all triplets, most of which are already satisfied. Anchors without a positive (a singleton
    class in the batch) or without a negative (a single-class batch) yield no triplet. Distances
    are squared Euclidean, the same order as Euclidean; ties go to the lowest batch index, so
    the selection is deterministic.
    """

    def mine(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        distances = pairwise_squared_distances(embeddings)
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        negative = ~same
        hardest_positive = distances.masked_fill(~positive, -torch.inf).argmax(dim=1)
        hardest_negative = distances.masked_fill(~negative, torch.inf).argmin(dim=1)
        anchors = (positive.any(dim=1) & negative.any(dim=1)).nonzero(as_tuple=True)[0]
        return Triplets(anchors, hardest_positive[anchors], hardest_negative[anchors])


@MINERS.register("batch_hard")
def batch_hard() -> nn.Module:
    """Per anchor, its hardest positive and hardest negative (Hermans et al. 2017); one triplet each."""
    return BatchHardMiner()

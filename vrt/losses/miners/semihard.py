"""Miner ``semihard``: negatives farther than the positive but inside the margin (FaceNet)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.losses.base import check_positive
from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.miners.base import Miner, Triplets
from vrt.registry import MINERS


class SemiHardMiner(Miner):
    """For every (anchor, positive) pair, one negative chosen by the rules below.

    Schroff, Kalenichenko and Philbin, "FaceNet" (2015), Sec. 3.2: the hardest negatives
    (closer than the positive) can collapse the embedding early in training, so FaceNet uses
    *semi-hard* ones, ``d(a, p) < d(a, n) < d(a, p) + margin``: still violating the margin, but
    not inverted. Distances are squared Euclidean, the units of ``triplet_ranking``'s margin.

    Per pair ``(a, p)``, in order:

    1. a semi-hard negative exists: take the closest one (the hardest semi-hard, as TensorFlow
       Addons' ``triplet_semihard_loss`` does);
    2. otherwise, if some negatives are at least as close as the positive (hard negatives):
       take the farthest of them, the least extreme violation, so the pair still teaches
       something without FaceNet's collapse risk;
    3. otherwise every negative is beyond ``d(a, p) + margin``: the pair is already satisfied
       (its hinge would be 0) and gives no triplet.

    Every selected triplet therefore has a positive hinge. Ties go to the lowest batch index.
    The ``(B, B, B)`` comparison costs ``B**3`` floats (64 MB at B = 256), like the ``all`` miner.
    """

    def __init__(self, margin: float) -> None:
        super().__init__()
        self.margin = check_positive(margin, name="semihard miner margin")

    def mine(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        distances = pairwise_squared_distances(embeddings)
        same = labels[:, None] == labels[None, :]
        pairs = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        anchors, positives = pairs.nonzero(as_tuple=True)
        d_ap = distances[anchors, positives][:, None]  # (P, 1)
        d_an = distances[anchors]  # (P, B): every candidate negative of each pair's anchor
        negative = ~same[anchors]
        semi_hard = negative & (d_an > d_ap) & (d_an < d_ap + self.margin)
        hard = negative & (d_an <= d_ap)
        closest_semi_hard = d_an.masked_fill(~semi_hard, torch.inf).argmin(dim=1)
        farthest_hard = d_an.masked_fill(~hard, -torch.inf).argmax(dim=1)
        has_semi_hard, has_hard = semi_hard.any(dim=1), hard.any(dim=1)
        negatives = torch.where(has_semi_hard, closest_semi_hard, farthest_hard)
        keep = has_semi_hard | has_hard
        return Triplets(anchors[keep], positives[keep], negatives[keep])

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


@MINERS.register("semihard")
def semihard(*, margin: float) -> nn.Module:
    """Per (anchor, positive): the closest negative inside (d_ap, d_ap + margin), else the mildest hard one.

    Args:
        margin: the triplet margin on squared distances; defaults to the loss's ``margin``
            (``triplet_ranking``'s) when the loss has one.
    """
    return SemiHardMiner(margin=margin)

"""Triplet ranking loss on squared Euclidean distances (the reference loss)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from vrt.components import build
from vrt.config.schema import ComponentSpec
from vrt.losses.base import HashingLoss, check_positive
from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.miners.base import TripletMiner, Triplets
from vrt.registry import LOSSES, MINERS

Reduction = Literal["mean", "mean_active"]


class TripletRankingLoss(HashingLoss):
    """``relu(margin + |a - p|^2 - |a - n|^2)`` averaged over the triplets a miner selects.

    Squared distances between tanh codes in (-1, 1)^bits mirror Hamming distances between
    their signs (each differing bit contributes up to 4), so the margin is in those units: a
    bit over ``bits / 4`` (14 at 48 bits, 20 at 64) asks a negative to be about one bit
    farther than a positive, per the reference.

    Args:
        margin: hinge margin, > 0.
        miner: callable ``(embeddings, labels) -> mask | Triplets`` (see
            :mod:`vrt.losses.miners.base`); it sees detached embeddings.
        reduction: ``"mean"`` divides by every selected triplet, so the loss shrinks as
            triplets are satisfied; ``"mean_active"`` divides by those with a positive hinge,
            which keeps the gradient from fading late in training.
    """

    def __init__(self, margin: float, miner: TripletMiner, reduction: Reduction = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "mean_active"):
            raise ValueError(f"triplet_ranking reduction must be 'mean' or 'mean_active', got {reduction!r}")
        self.margin = check_positive(margin, name="triplet_ranking margin")
        self.miner = miner
        self.reduction = reduction

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        distances = pairwise_squared_distances(embeddings)
        selection = self.miner(embeddings.detach(), labels)
        if isinstance(selection, tuple):
            anchors, positives, negatives = Triplets(*selection)
            hinge = (self.margin + distances[anchors, positives] - distances[anchors, negatives]).relu()
            total, count = hinge.sum(), hinge.new_tensor(float(hinge.numel()))
        else:
            batch = embeddings.shape[0]
            if selection.dtype != torch.bool or tuple(selection.shape) != (batch, batch, batch):
                raise ValueError(
                    f"a miner must return Triplets or a bool mask of shape {(batch, batch, batch)}, "
                    f"got {selection.dtype} {tuple(selection.shape)}"
                )
            # Dense over (anchor, positive, negative): one broadcast instead of gathering indices,
            # and no host synchronisation on GPU.
            all_hinges = (self.margin + distances[:, :, None] - distances[:, None, :]).relu()
            hinge = torch.where(selection, all_hinges, 0.0)
            total, count = hinge.sum(), selection.sum().to(hinge.dtype)
        if self.reduction == "mean_active":
            count = (hinge > 0).sum().to(hinge.dtype)
        # An empty selection (a batch of one class) gives 0, still attached to the graph so a
        # training step can call backward() unconditionally.
        return total / count.clamp_min(1.0)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


@LOSSES.register("triplet_ranking")
def triplet_ranking(*, margin: float = 14.0, reduction: Reduction = "mean", miner: str = "all") -> nn.Module:
    """Triplet hinge on squared distances, relu(margin + |a-p|^2 - |a-n|^2); margin ~ bits/4 + a bit.

    Args:
        margin: 14 suits 48 bits, 20 suits 64 bits (the reference's values).
        reduction: ``mean`` over all selected triplets or ``mean_active`` over violated ones.
        miner: name of a registered miner (``vrt list miners``): ``all`` (the reference),
            ``batch_hard`` or ``semihard``; a miner that takes a ``margin`` gets this one.
    """
    # The miner gets this margin (MINERS injects it), so the semi-hard band and the hinge agree.
    built = build(MINERS, ComponentSpec(miner), section="loss.miner", margin=margin)
    return TripletRankingLoss(margin=margin, miner=built, reduction=reduction)

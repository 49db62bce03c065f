"""Miner ``triplet_margin``: the triplets on one side of the margin (pytorch-metric-learning's TripletMarginMiner)."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from vrt.losses.base import check_positive
from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.miners.base import Miner, valid_triplet_mask
from vrt.registry import MINERS

TripletType = Literal["all", "hard", "semihard", "easy"]


class TripletMarginMiner(Miner):
    """Valid triplets selected by their gap ``d(a, n) - d(a, p)`` against ``margin``.

    Distances are squared Euclidean (``triplet_ranking``'s units). ``type_of_triplets``:

    * ``all``: the gap is at most the margin, i.e. every triplet the hinge
      ``margin + d(a, p) - d(a, n)`` does not ignore;
    * ``hard``: of those, the negative is at least as close as the positive (gap <= 0);
    * ``semihard``: of those, the negative is farther than the positive (0 < gap <= margin);
      unlike the ``semihard`` miner, every such negative is kept, not one per pair;
    * ``easy``: the rest, gap > margin (satisfied triplets; for analysis rather than training).

    Returned as a dense ``(B, B, B)`` mask: no host synchronisation, ``B**3`` floats of memory.
    """

    def __init__(self, margin: float, type_of_triplets: TripletType = "all") -> None:
        super().__init__()
        if type_of_triplets not in ("all", "hard", "semihard", "easy"):
            raise ValueError(
                f"type_of_triplets must be 'all', 'hard', 'semihard' or 'easy', got {type_of_triplets!r}"
            )
        self.margin = check_positive(margin, name="triplet_margin miner margin")
        self.type_of_triplets = type_of_triplets

    def mine(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        distances = pairwise_squared_distances(embeddings)
        gap = distances[:, None, :] - distances[:, :, None]  # [a, p, n] = d(a, n) - d(a, p)
        if self.type_of_triplets == "easy":
            keep = gap > self.margin
        else:
            keep = gap <= self.margin
            if self.type_of_triplets == "hard":
                keep &= gap <= 0
            elif self.type_of_triplets == "semihard":
                keep &= gap > 0
        return valid_triplet_mask(labels) & keep

    def extra_repr(self) -> str:
        return f"margin={self.margin}, type_of_triplets={self.type_of_triplets!r}"


@MINERS.register("triplet_margin")
def triplet_margin(*, margin: float, type_of_triplets: TripletType = "all") -> nn.Module:
    """Every valid triplet whose gap d_an - d_ap is within the margin (all, hard, semihard) or beyond it (easy).

    Args:
        margin: on squared distances; defaults to the loss's ``margin`` when the loss has one.
        type_of_triplets: ``all`` (gap <= margin), ``hard`` (gap <= 0), ``semihard``
            (0 < gap <= margin) or ``easy`` (gap > margin).
    """
    return TripletMarginMiner(margin=margin, type_of_triplets=type_of_triplets)

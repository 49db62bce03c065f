"""Miner ``all``: every valid triplet of the batch (the reference's choice)."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.losses.miners.base import Miner, valid_triplet_mask
from vrt.registry import MINERS


class AllTripletsMiner(Miner):
    """Selects every (anchor, positive, negative) with ``a != p``, ``label[a] == label[p] != label[n]``.

    Returned as a dense ``(B, B, B)`` mask, so memory grows as ``B**3`` (16 MB of bools at
    B = 256); P x K batches keep B moderate.
    """

    def mine(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return valid_triplet_mask(labels)


@MINERS.register("all")
def all_triplets() -> nn.Module:
    """Every valid triplet in the batch (every ordered anchor/positive pair, every negative)."""
    return AllTripletsMiner()

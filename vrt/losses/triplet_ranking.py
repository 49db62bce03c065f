"""Triplet ranking loss on squared Euclidean distances (the reference loss)."""

from __future__ import annotations

from torch import Tensor, nn

from vrt.components import default_section
from vrt.losses.base import HashingLoss, check_component, check_positive
from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.miners.base import MinerFunction, Pairs, valid_triplet_mask
from vrt.losses.miners.conversions import as_selection, convert_to_triplets
from vrt.losses.reducers.base import ReducerFunction
from vrt.losses.reducers.mean import MeanReducer
from vrt.registry import LOSSES


class TripletRankingLoss(HashingLoss):
    """``relu(margin + |a - p|^2 - |a - n|^2)`` over the triplets a miner selects, reduced.

    Squared distances between tanh codes in (-1, 1)^bits mirror Hamming distances between
    their signs (each differing bit contributes up to 4), so the margin is in those units: a
    bit over ``bits / 4`` (14 at 48 bits, 20 at 64) asks a negative to be about one bit
    farther than a positive, per the reference.

    Args:
        margin: hinge margin, > 0.
        miner: callable ``(embeddings, labels) -> mask | Triplets | Pairs`` (see
            :mod:`vrt.losses.miners.base`); it sees detached embeddings. Pairs become every
            triplet of a positive and a negative pair sharing their anchor. ``None``: every
            valid triplet (what the ``all`` miner selects).
        reducer: callable ``(hinges, mask=None) -> scalar`` (see :mod:`vrt.losses.reducers.base`);
            ``None`` is ``mean``, which divides by every selected triplet, so the loss shrinks as
            triplets are satisfied; ``mean_active`` divides by those with a positive hinge,
            which keeps the gradient from fading late in training.
    """

    def __init__(
        self, margin: float, miner: MinerFunction | None = None, reducer: ReducerFunction | None = None
    ) -> None:
        super().__init__()
        self.margin = check_positive(margin, name="triplet_ranking margin")
        self.miner = check_component(miner, kind="miner", loss="triplet_ranking")
        reducer = check_component(reducer, kind="reducer", loss="triplet_ranking")
        self.reducer = MeanReducer() if reducer is None else reducer

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        distances = pairwise_squared_distances(embeddings)
        batch = embeddings.shape[0]
        if self.miner is None:
            selection = valid_triplet_mask(labels)
        else:
            selection = as_selection(self.miner(embeddings.detach(), labels), batch)
        if isinstance(selection, Pairs):
            selection = convert_to_triplets(selection)
        if isinstance(selection, tuple):
            anchors, positives, negatives = selection
            hinge = (self.margin + distances[anchors, positives] - distances[anchors, negatives]).relu()
            return self.reducer(hinge)
        # Dense over (anchor, positive, negative): one broadcast instead of gathering indices, and
        # no host synchronisation on GPU. An empty selection (a batch of one class) reduces to 0,
        # still attached to the graph so a training step can call backward() unconditionally.
        all_hinges = (self.margin + distances[:, :, None] - distances[:, None, :]).relu()
        return self.reducer(all_hinges, selection)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


# The sections vrt builds when the config sets none (a resolved config shows these names).
_MEAN = default_section("mean")
_ALL = default_section("all")


@LOSSES.register("triplet_ranking")
def triplet_ranking(
    *,
    margin: float = 14.0,
    reduction: ReducerFunction = _MEAN,
    miner: MinerFunction | None = _ALL,
) -> nn.Module:
    """Triplet hinge on squared distances, relu(margin + |a-p|^2 - |a-n|^2); margin ~ bits/4 + a bit.

    Args:
        margin: 14 suits 48 bits, 20 suits 64 bits (the reference's values).
        reduction: a registered reducer (``vrt list reducers``): ``mean`` over all selected
            triplets or ``mean_active`` over violated ones, or ``sum``.
        miner: a registered miner (``vrt list miners``): ``all`` (the reference),
            ``batch_hard``, ``semihard``, ``triplet_margin``, ``pair_margin``, by name or as a
            section with its parameters; a miner parameter named ``margin`` defaults to this one.
            vrt builds both and passes the objects.
    """
    return TripletRankingLoss(margin=margin, miner=miner, reducer=reduction)

"""DPSH: pairwise likelihood of the labels given code inner products (Li, Wang and Kang, IJCAI 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.components import default_section
from vrt.losses.base import HashingLoss, check_component, check_positive, log1p_exp, pair_masks
from vrt.losses.miners.base import MinerFunction
from vrt.losses.miners.conversions import gather_pairs, mined_pairs
from vrt.losses.reducers.base import ReducerFunction
from vrt.losses.reducers.mean import MeanReducer
from vrt.registry import LOSSES


class DPSHLoss(HashingLoss):
    """``reduce_{i != j} [log(1 + exp(theta_ij)) - s_ij theta_ij] + eta * mean((u - sign(u))^2)``.

    ``theta_ij = u_i . u_j / 2``: the probability that i and j are similar is
    ``sigmoid(theta_ij)``, so the first term is the negative log-likelihood of the pairwise
    labels ``s_ij`` (1 for the same class, else 0). It is computed as
    ``max(theta, 0) + log1p(exp(-|theta|))``, exact for large ``|theta|`` (up to ``bits / 2``).

    The second term is the paper's quantisation penalty ``eta ||b_i - u_i||^2`` with
    ``b = sign(u)`` (a 0 counts as +1, as in binarisation), here averaged over samples *and bits*
    so that ``eta`` does not need retuning with the code length. Our codes already pass through
    tanh, so it only has to finish pushing units to +-1; hence a small default.

    Self-pairs (``i == j``) are left out: their label is trivially "similar" and they would act
    as an extra, unweighted quantisation term. A miner chooses the pairs of the likelihood (all
    ordered pairs without one), and the reducer (default ``mean``) averages their terms; the
    quantisation term is always the mean over every unit. Every pair's term is positive (a
    probability below 1), so ``mean_active`` differs from ``mean`` only where one rounds to 0.
    """

    def __init__(
        self, eta: float = 0.1, miner: MinerFunction | None = None, reducer: ReducerFunction | None = None
    ) -> None:
        super().__init__()
        self.eta = check_positive(eta, name="dpsh eta", allow_zero=True)
        self.miner = check_component(miner, kind="miner", loss="dpsh")
        reducer = check_component(reducer, kind="reducer", loss="dpsh")
        self.reducer = MeanReducer() if reducer is None else reducer

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        u = embeddings
        theta = 0.5 * (u @ u.T)
        if self.miner is None:
            similar, dissimilar = pair_masks(labels)
            per_pair = log1p_exp(theta) - similar.to(theta.dtype) * theta
            likelihood = self.reducer(per_pair, similar | dissimilar)
        else:
            pairs = mined_pairs(self.miner, u, labels)
            similar_softplus, dissimilar_softplus = gather_pairs(log1p_exp(theta), pairs)
            similar_theta, _ = gather_pairs(theta, pairs)
            likelihood = self.reducer(torch.cat([similar_softplus - similar_theta, dissimilar_softplus]))
        signs = torch.where(u >= 0, 1.0, -1.0).to(u.dtype)
        return likelihood + self.eta * (u - signs).square().mean()

    def extra_repr(self) -> str:
        return f"eta={self.eta}"


# The sections vrt builds when the config sets none (a resolved config shows these names).
_MEAN = default_section("mean")


@LOSSES.register("dpsh")
def dpsh(
    *,
    eta: float = 0.1,
    miner: MinerFunction | None = None,
    reduction: ReducerFunction = _MEAN,
) -> nn.Module:
    """Pairwise likelihood on theta = u_i.u_j/2 (Li et al. 2016) plus eta * mean((u - sign u)^2).

    Args:
        eta: weight of the quantisation term (mean over samples and bits), >= 0.
        miner: a registered miner choosing the pairs of the likelihood; ``None``, every pair.
        reduction: a registered reducer over the pairs' likelihood terms (``mean``, ``sum``).
    """
    return DPSHLoss(eta=eta, miner=miner, reducer=reduction)

"""HashNet (Cao et al., ICCV 2017): class-balanced pairwise likelihood with continuation."""

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

# atanh(+-1) is infinite; units this saturated carry no gradient through tanh anyway.
_SATURATION = 1e-6


class HashNetLoss(HashingLoss):
    """Weighted ``log(1 + exp(theta_ij)) - s_ij theta_ij``, ``theta_ij = alpha <h_i, h_j>``, ``h = tanh(beta z)``.

    **Weighting.** Similar pairs are rare (with C balanced classes, about 1/C of them), so the
    paper weights each pair by ``|S| / |S_1|`` if similar and ``|S| / |S_0|`` if not. Normalised by
    the total weight, that is the mean of the per-kind means,
    ``(mean over similar pairs + mean over dissimilar pairs) / 2``, counted over the kinds the
    batch has (a batch of one class has only similar pairs). Self-pairs are left out.

    **Reduction** is therefore per kind: the reducer (default ``mean``, the paper's weighting)
    reduces the similar pairs and the dissimilar pairs separately, and the two results are
    averaged; ``mean_active`` averages each kind over its pairs with a positive loss, ``sum``
    sums each kind. A miner chooses the pairs (every ordered pair without one): its positive
    pairs count as similar, its negative pairs as dissimilar.

    **Continuation.** HashNet trains ``h = tanh(beta z)`` while ``beta`` grows, so the codes
    approach ``sign(z)`` without the optimisation ever facing a step function. vrt heads already
    output ``u = tanh(z)``, so the loss rebuilds ``h = tanh(beta * atanh(u))``, exactly
    ``tanh(beta z)``: the head is untouched, gradients reach ``z`` scaled as in the paper, and
    since ``h`` has the sign of ``u`` the encoded bits do not depend on ``beta``. ``u`` is clamped
    to ``+-(1 - 1e-6)`` first. The schedule is per epoch, set by the runner through
    :meth:`on_epoch_start`: ``beta = beta_initial * (1 + step_factor * epoch) ** 0.5`` (the paper's
    ``(1 + gamma t) ** 0.5``, with t in epochs instead of iterations).

    ``alpha`` is the paper's adaptive-sigmoid slope; the authors' code uses ``10 / bits``.
    """

    def __init__(
        self,
        *,
        alpha: float,
        beta_initial: float = 1.0,
        step_factor: float = 0.5,
        miner: MinerFunction | None = None,
        reducer: ReducerFunction | None = None,
    ) -> None:
        super().__init__()
        self.miner = check_component(miner, kind="miner", loss="hashnet")
        reducer = check_component(reducer, kind="reducer", loss="hashnet")
        self.reducer = MeanReducer() if reducer is None else reducer
        self.alpha = check_positive(alpha, name="hashnet alpha")
        self.beta_initial = check_positive(beta_initial, name="hashnet beta_initial")
        self.step_factor = check_positive(step_factor, name="hashnet step_factor", allow_zero=True)
        self.beta = self.beta_initial

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Continuation: ``beta`` for epoch ``epoch`` (0-based) of ``epochs``."""
        self.beta = self.beta_initial * (1.0 + self.step_factor * epoch) ** 0.5

    def continued(self, u: Tensor) -> Tensor:
        """``tanh(beta * atanh(u))``: the codes as the current continuation step sees them."""
        if self.beta == 1.0:
            return u
        return torch.tanh(self.beta * torch.atanh(u.clamp(-1 + _SATURATION, 1 - _SATURATION)))

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        u = self.continued(embeddings)
        theta = self.alpha * (u @ u.T)
        if self.miner is None:
            similar, dissimilar = pair_masks(labels)
            per_pair = log1p_exp(theta) - similar.to(theta.dtype) * theta
            kinds = (similar.any().to(u.dtype) + dissimilar.any().to(u.dtype)).clamp_min(1.0)
            return (self.reducer(per_pair, similar) + self.reducer(per_pair, dissimilar)) / kinds
        # The miner saw the codes as the head made them; continuation only reshapes the loss.
        pairs = mined_pairs(self.miner, embeddings, labels)
        similar_softplus, dissimilar_softplus = gather_pairs(log1p_exp(theta), pairs)
        similar_theta, _ = gather_pairs(theta, pairs)
        kinds = max(int(similar_theta.numel() > 0) + int(dissimilar_softplus.numel() > 0), 1)
        return (self.reducer(similar_softplus - similar_theta) + self.reducer(dissimilar_softplus)) / kinds

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:.4g}, beta={self.beta:.4g}, step_factor={self.step_factor}"


# The sections vrt builds when the config sets none (a resolved config shows these names).
_MEAN = default_section("mean")


@LOSSES.register("hashnet")
def hashnet(
    *,
    bits: int,
    alpha: float | None = None,
    beta_initial: float = 1.0,
    step_factor: float = 0.5,
    miner: MinerFunction | None = None,
    reduction: ReducerFunction = _MEAN,
) -> nn.Module:
    """Class-balanced pairwise likelihood with tanh continuation (Cao et al. 2017); beta grows per epoch.

    Args:
        alpha: slope of the pairwise sigmoid on inner products; ``None`` is ``10 / bits``.
        beta_initial: continuation scale at epoch 0.
        step_factor: ``beta = beta_initial * sqrt(1 + step_factor * epoch)``; 0 turns continuation off.
        miner: a registered miner choosing the pairs; ``None``, every pair.
        reduction: a registered reducer, applied to the similar and the dissimilar pairs
            separately before the two are averaged (``mean``: the paper's class balance).
    """
    return HashNetLoss(
        alpha=10.0 / bits if alpha is None else alpha,
        beta_initial=beta_initial,
        step_factor=step_factor,
        miner=miner,
        reducer=reduction,
    )

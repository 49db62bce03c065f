"""DPSH: pairwise likelihood of the labels given code inner products (Li, Wang and Kang, IJCAI 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.losses.base import HashingLoss, check_positive, log1p_exp, masked_mean, pair_masks
from vrt.registry import LOSSES


class DPSHLoss(HashingLoss):
    """``mean_{i != j} [log(1 + exp(theta_ij)) - s_ij theta_ij] + eta * mean((u - sign(u))^2)``.

    ``theta_ij = u_i . u_j / 2``: the probability that i and j are similar is
    ``sigmoid(theta_ij)``, so the first term is the negative log-likelihood of the pairwise
    labels ``s_ij`` (1 for the same class, else 0). It is computed as
    ``max(theta, 0) + log1p(exp(-|theta|))``, exact for large ``|theta|`` (up to ``bits / 2``).

    The second term is the paper's quantisation penalty ``eta ||b_i - u_i||^2`` with
    ``b = sign(u)`` (a 0 counts as +1, as in binarisation), here averaged over samples *and bits*
    so that ``eta`` does not need retuning with the code length. Our codes already pass through
    tanh, so it only has to finish pushing units to +-1; hence a small default.

    Self-pairs (``i == j``) are left out: their label is trivially "similar" and they would act
    as an extra, unweighted quantisation term.
    """

    def __init__(self, eta: float = 0.1) -> None:
        super().__init__()
        self.eta = check_positive(eta, name="dpsh eta", allow_zero=True)

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        u = embeddings
        similar, dissimilar = pair_masks(labels)
        theta = 0.5 * (u @ u.T)
        likelihood = masked_mean(log1p_exp(theta) - similar.to(theta.dtype) * theta, similar | dissimilar)
        signs = torch.where(u >= 0, 1.0, -1.0).to(u.dtype)
        return likelihood + self.eta * (u - signs).square().mean()

    def extra_repr(self) -> str:
        return f"eta={self.eta}"


@LOSSES.register("dpsh")
def dpsh(*, eta: float = 0.1) -> nn.Module:
    """Pairwise likelihood on theta = u_i.u_j/2 (Li et al. 2016) plus eta * mean((u - sign u)^2).

    Args:
        eta: weight of the quantisation term (mean over samples and bits), >= 0.
    """
    return DPSHLoss(eta=eta)

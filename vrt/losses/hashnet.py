"""HashNet (Cao et al., ICCV 2017): class-balanced pairwise likelihood with continuation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.losses.base import HashingLoss, check_positive, log1p_exp, masked_mean, pair_masks
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

    def __init__(self, *, alpha: float, beta_initial: float = 1.0, step_factor: float = 0.5) -> None:
        super().__init__()
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
        similar, dissimilar = pair_masks(labels)
        theta = self.alpha * (u @ u.T)
        per_pair = log1p_exp(theta) - similar.to(theta.dtype) * theta
        kinds = (similar.any().to(u.dtype) + dissimilar.any().to(u.dtype)).clamp_min(1.0)
        return (masked_mean(per_pair, similar) + masked_mean(per_pair, dissimilar)) / kinds

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:.4g}, beta={self.beta:.4g}, step_factor={self.step_factor}"


@LOSSES.register("hashnet")
def hashnet(
    *, bits: int, alpha: float | None = None, beta_initial: float = 1.0, step_factor: float = 0.5
) -> nn.Module:
    """Class-balanced pairwise likelihood with tanh continuation (Cao et al. 2017); beta grows per epoch.

    Args:
        alpha: slope of the pairwise sigmoid on inner products; ``None`` is ``10 / bits``.
        beta_initial: continuation scale at epoch 0.
        step_factor: ``beta = beta_initial * sqrt(1 + step_factor * epoch)``; 0 turns continuation off.
    """
    return HashNetLoss(
        alpha=10.0 / bits if alpha is None else alpha, beta_initial=beta_initial, step_factor=step_factor
    )

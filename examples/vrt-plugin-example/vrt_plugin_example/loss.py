"""Loss ``similarity_regression``: code inner products regressed onto +-1 pair labels (KSH-style).

Liu et al., "Supervised hashing with kernels" (CVPR 2012) fit ``u_i . u_j / bits`` to ``+1`` for
similar and ``-1`` for dissimilar pairs. The module shows what vrt needs from a loss: an
``nn.Module`` called as ``loss(embeddings (B, bits), labels (B,))`` returning a scalar, built by a
keyword-only builder that may ask for the injected ``bits`` and ``num_classes``. Subclassing
:class:`vrt.losses.base.HashingLoss` (recommended, not required) leaves only the formula to
write: the base class checks the batch and casts the codes to float32 first.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vrt.losses.base import HashingLoss


class SimilarityRegressionLoss(HashingLoss):
    """``mean over pairs i != j of (u_i . u_j / bits - s_ij)^2``, ``s_ij = +1`` same class else ``-1``.

    With ``balanced`` the similar and dissimilar pairs are averaged separately and the two means
    averaged, so the rare similar pairs are not drowned out. ``bits`` is set, so the base class
    also rejects embeddings of another width.
    """

    def __init__(self, bits: int, balanced: bool = True) -> None:
        super().__init__()
        self.bits = bits
        self.balanced = balanced

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        same = labels[:, None] == labels[None, :]
        pairs = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        target = torch.where(same, 1.0, -1.0)
        errors = (embeddings @ embeddings.T / self.bits - target).square()
        masks = [pairs & same, pairs & ~same] if self.balanced else [pairs]
        # Empty masks (a batch of one class) contribute 0 and do not count; the result stays on
        # the graph so a training step can always call backward().
        means = [torch.where(m, errors, 0.0).sum() / m.sum().clamp_min(1) for m in masks]
        present = sum(m.any().float() for m in masks).clamp_min(1.0)
        return sum(means) / present


def similarity_regression(*, bits: int, balanced: bool = True) -> nn.Module:
    """Regress u_i.u_j/bits onto +1 (same class) / -1 (different class); an example plugin loss.

    Args:
        bits: the code length, injected by vrt (never set in a config).
        balanced: average similar and dissimilar pairs separately, then together.
    """
    return SimilarityRegressionLoss(bits=bits, balanced=balanced)

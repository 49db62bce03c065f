"""Distances between code vectors, computed in full precision whatever autocast says."""

from __future__ import annotations

import torch
from torch import Tensor


def pairwise_squared_distances(x: Tensor) -> Tensor:
    """``d[i, j] = |x_i - x_j|^2`` for ``x`` of shape ``(B, D)``, in float32 (float64 kept).

    Losses compare differences of distances against a margin (values up to ``4 * bits``), which
    bf16's 8-bit mantissa cannot resolve, so autocast is switched off here and half inputs are
    upcast. The expansion ``|a|^2 + |b|^2 - 2ab`` can round slightly below zero; clamping keeps
    distances valid and its gradient well defined (unlike ``cdist`` at zero distance).
    """
    if x.ndim != 2:
        raise ValueError(f"expected embeddings of shape (B, D), got {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    device_type = x.device.type
    if torch.amp.is_autocast_available(device_type):
        with torch.autocast(device_type=device_type, enabled=False):
            return _squared_distances(x)
    return _squared_distances(x)


def _squared_distances(x: Tensor) -> Tensor:
    squared_norms = (x * x).sum(dim=1)
    return (squared_norms[:, None] + squared_norms[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)

"""The temporal module contract, checked once for every module."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

__all__ = ["TemporalModule", "check_frame_features"]


def check_frame_features(features: Tensor, mask: Tensor | None, *, in_dim: int, name: str) -> None:
    """Features ``(B, T, in_dim)`` and an optional bool mask ``(B, T)``, or a ValueError saying what is off."""
    if features.ndim != 3 or features.shape[2] != in_dim:
        raise ValueError(f"{name} expected frame features (B, T, {in_dim}), got {tuple(features.shape)}")
    if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != tuple(features.shape[:2])):
        raise ValueError(
            f"{name} expected a bool mask (B, T) = {tuple(features.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}"
        )


class TemporalModule(nn.Module, ABC):
    """Frame features ``(B, T, in_dim)`` (and a mask of hidden frames) to ``(B, out_dim)``.

    Subclasses set ``in_dim`` and ``out_dim`` and implement :meth:`summarise`; calling the
    module checks the input once. ``tokens`` gives the per-frame outputs the self-supervised
    objectives reconstruct from, where a module has them.
    """

    in_dim: int
    out_dim: int

    def forward(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        check_frame_features(features, mask, in_dim=self.in_dim, name=type(self).__name__)
        if mask is not None:
            # A video with every frame hidden (a random mask over few frames can do that) would
            # have nothing to summarise: it is shown whole instead.
            mask = mask & ~mask.all(dim=1, keepdim=True)
        return self.summarise(features, mask)

    @abstractmethod
    def summarise(self, features: Tensor, mask: Tensor | None) -> Tensor:
        """One vector per clip from checked features; hidden frames (mask True) must not count."""


def visible_mean(features: Tensor, mask: Tensor | None) -> Tensor:
    """The mean over the frames not hidden by ``mask`` (all frames without one)."""
    if mask is None:
        return features.mean(dim=1)
    keep = (~mask).unsqueeze(-1).to(features.dtype)
    return (features * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)

"""The backbone contract: clips in, one feature vector per clip out, plus input metadata.

A backbone is any ``nn.Module`` mapping float clips ``(B, C=3, T, H, W)`` to ``(B, out_dim)`` that
carries two attributes: ``out_dim`` and ``normalization``. The contract is a protocol rather than a
base class so that torchvision/pytorchvideo networks can be adapted in place (classifier swapped
for identity, attributes attached) and keep their own state-dict layout, which is what lets their
published checkpoints load without key renaming.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import Tensor, nn

# How a backbone reduces its last feature map (B, C, T', H', W') to one vector per clip. Average
# is what the published weights were trained with; max keeps the strongest local response,
# which some retrieval work prefers for clips where the action fills only part of the frame.
Pooling = Literal["avg", "max"]


@dataclass(frozen=True)
class Normalization:
    """Per-channel (RGB) affine normalisation a backbone expects: ``(x - mean) / std``, x in [0, 1].

    The model applies it, not the data pipeline, so datasets stay backbone-agnostic and a
    checkpoint cannot be evaluated with the wrong statistics.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"Normalization needs 3 (RGB) values each, got mean={self.mean}, std={self.std}")
        if not all(math.isfinite(m) for m in self.mean):
            raise ValueError(f"Normalization mean must be finite, got {self.mean}")
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise ValueError(f"Normalization std must be finite and > 0, got {self.std}")


# The statistics torchvision's Kinetics-400 video weights were trained with (their transforms()).
KINETICS_NORMALIZATION = Normalization(mean=(0.43216, 0.394666, 0.37645), std=(0.22803, 0.22145, 0.216989))

# For networks trained from scratch any fixed affine map works; this one centres [0, 1] on 0 with a
# spread of about one, which keeps the first BatchNorm's job easy.
CENTERED_NORMALIZATION = Normalization(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


@runtime_checkable
class Backbone(Protocol):
    """What vrt needs from a backbone (checked structurally by :func:`check_backbone`)."""

    out_dim: int
    normalization: Normalization

    def __call__(self, clips: Tensor) -> Tensor: ...


def check_backbone(backbone: object, *, name: str) -> None:
    """Fail early and by name when a (possibly third-party) builder breaks the contract."""
    import torch.nn as nn

    if not isinstance(backbone, nn.Module):
        raise TypeError(f"backbone {name!r} must build an nn.Module, got {type(backbone).__name__}")
    out_dim = getattr(backbone, "out_dim", None)
    if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim <= 0:
        raise TypeError(f"backbone {name!r} must have a positive int attribute out_dim, got {out_dim!r}")
    normalization = getattr(backbone, "normalization", None)
    if not isinstance(normalization, Normalization):
        raise TypeError(
            f"backbone {name!r} must have a `normalization` attribute of type "
            f"vrt.backbones.base.Normalization, got {normalization!r}"
        )


def global_pool(pooling: Pooling) -> nn.Module:
    """A parameter-free pool over time and space to ``(B, C, 1, 1, 1)``, for any input size.

    Backbones use it in place of fixed-kernel pools (sized for one input resolution), so they
    accept the small clips of tests and demos as well as their training resolution, where an
    adaptive average equals the original pool.
    """
    from torch import nn

    if pooling == "avg":
        return nn.AdaptiveAvgPool3d(1)
    if pooling == "max":
        return nn.AdaptiveMaxPool3d(1)
    raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")

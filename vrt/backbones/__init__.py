"""Backbones: ``(B, 3, T, H, W)`` clips to ``(B, out_dim)`` features (see :mod:`vrt.backbones.base`).

Each backbone module registers itself in :data:`vrt.registry.BACKBONES`, which imports every
module of this package on its first lookup.
"""

from __future__ import annotations

from vrt.backbones.base import (
    CENTERED_NORMALIZATION,
    KINETICS_NORMALIZATION,
    Backbone,
    Normalization,
    Pooling,
    check_backbone,
    global_pool,
)
from vrt.backbones.resnet3d import load_3d_resnets_checkpoint
from vrt.backbones.weights import (
    LoadReport,
    PretrainedWeightsError,
    PretrainedWeightsWarning,
    load_pretrained,
)

__all__ = [
    "CENTERED_NORMALIZATION",
    "KINETICS_NORMALIZATION",
    "Backbone",
    "LoadReport",
    "Normalization",
    "Pooling",
    "PretrainedWeightsError",
    "PretrainedWeightsWarning",
    "check_backbone",
    "global_pool",
    "load_3d_resnets_checkpoint",
    "load_pretrained",
]

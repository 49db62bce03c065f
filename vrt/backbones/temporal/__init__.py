"""Temporal modules: what a frame backbone runs over its frames' features (``model.backbone.temporal``).

A temporal module maps frame features ``(B, T, in_dim)`` to one vector per clip ``(B, out_dim)``;
vrt injects ``in_dim`` (the image encoder's width, or a feature file's). Given ``mask``, a bool
``(B, T)`` that is True for hidden frames, it summarises the visible frames only: the masked
frame modelling of the self-supervised objectives (``conmh``, ``bth``) hides frames this way.
Each module registers itself in :data:`vrt.registry.TEMPORAL_MODULES`.
"""

from __future__ import annotations

from vrt.backbones.temporal.base import TemporalModule, check_frame_features

__all__ = ["TemporalModule", "check_frame_features"]

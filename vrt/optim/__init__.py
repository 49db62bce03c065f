"""Optimisers and learning-rate schedules: registered components, built from ``train.optimizer``
and ``train.scheduler`` like every other component (``vrt list optimizers``, ``vrt list schedulers``).

Each module registers its components in :data:`vrt.registry.OPTIMIZERS` or
:data:`vrt.registry.SCHEDULERS` (the registry imports every module of this package on its first
lookup).
"""

from __future__ import annotations

from vrt.optim.optimizers import build_optimizer
from vrt.optim.schedules import Schedule, build_scheduler, stretch_schedule

__all__ = ["Schedule", "build_optimizer", "build_scheduler", "stretch_schedule"]

"""Reducers: how a pair or triplet loss averages its per-element losses (see :mod:`vrt.losses.reducers.base`).

Each reducer module registers itself in :data:`vrt.registry.REDUCERS`, which imports every
module of this package on its first lookup.
"""

from __future__ import annotations

from vrt.losses.reducers.base import Reducer, ReducerFunction
from vrt.losses.reducers.mean import MeanReducer
from vrt.losses.reducers.mean_active import MeanActiveReducer
from vrt.losses.reducers.sum import SumReducer

__all__ = ["MeanActiveReducer", "MeanReducer", "Reducer", "ReducerFunction", "SumReducer"]

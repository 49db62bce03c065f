"""Hashing losses: ``loss(embeddings (B, bits), labels (B,)) -> scalar``.

Importing this package registers the built-in losses in :data:`vrt.registry.LOSSES`; miners
live in :mod:`vrt.losses.miners` (registry ``MINERS``).
"""

from __future__ import annotations

from vrt.losses import triplet_ranking  # noqa: F401  (import registers it)
from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.triplet_ranking import TripletRankingLoss

__all__ = ["TripletRankingLoss", "pairwise_squared_distances"]

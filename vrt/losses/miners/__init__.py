"""Triplet miners (see :mod:`vrt.losses.miners.base`).

Importing this package registers the built-in miners in :data:`vrt.registry.MINERS`.
"""

from __future__ import annotations

from vrt.losses.miners import all_triplets  # noqa: F401  (import registers it)
from vrt.losses.miners.all_triplets import AllTripletsMiner
from vrt.losses.miners.base import TripletMiner, Triplets, valid_triplet_mask

__all__ = ["AllTripletsMiner", "TripletMiner", "Triplets", "valid_triplet_mask"]

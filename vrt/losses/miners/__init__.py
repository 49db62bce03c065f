"""Triplet miners (see :mod:`vrt.losses.miners.base`).

Importing this package registers the built-in miners in :data:`vrt.registry.MINERS`.
"""

from __future__ import annotations

from vrt.losses.miners import all_triplets, batch_hard, semihard  # noqa: F401  (import registers them)
from vrt.losses.miners.all_triplets import AllTripletsMiner
from vrt.losses.miners.base import TripletMiner, Triplets, check_batch, valid_triplet_mask
from vrt.losses.miners.batch_hard import BatchHardMiner
from vrt.losses.miners.semihard import SemiHardMiner

__all__ = [
    "AllTripletsMiner",
    "BatchHardMiner",
    "SemiHardMiner",
    "TripletMiner",
    "Triplets",
    "check_batch",
    "valid_triplet_mask",
]

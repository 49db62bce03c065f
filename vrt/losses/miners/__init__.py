"""Triplet miners (see :mod:`vrt.losses.miners.base`).

Each miner module registers itself in :data:`vrt.registry.MINERS`, which imports every module
of this package on its first lookup.
"""

from __future__ import annotations

from vrt.losses.miners.all_triplets import AllTripletsMiner
from vrt.losses.miners.base import Miner, TripletMiner, Triplets, check_batch, valid_triplet_mask
from vrt.losses.miners.batch_hard import BatchHardMiner
from vrt.losses.miners.semihard import SemiHardMiner

__all__ = [
    "AllTripletsMiner",
    "BatchHardMiner",
    "Miner",
    "SemiHardMiner",
    "TripletMiner",
    "Triplets",
    "check_batch",
    "valid_triplet_mask",
]

"""Miners: which pairs or triplets of a batch a loss uses (see :mod:`vrt.losses.miners.base`).

Each miner module registers itself in :data:`vrt.registry.MINERS`, which imports every module
of this package on its first lookup.
"""

from __future__ import annotations

from vrt.losses.miners.all_triplets import AllTripletsMiner
from vrt.losses.miners.base import (
    Miner,
    MinerFunction,
    MinerOutput,
    Pairs,
    TripletMiner,
    Triplets,
    check_batch,
    valid_triplet_mask,
)
from vrt.losses.miners.batch_hard import BatchHardMiner
from vrt.losses.miners.conversions import as_selection, convert_to_pairs, convert_to_triplets
from vrt.losses.miners.pair_margin import PairMarginMiner
from vrt.losses.miners.semihard import SemiHardMiner
from vrt.losses.miners.triplet_margin import TripletMarginMiner

__all__ = [
    "AllTripletsMiner",
    "BatchHardMiner",
    "Miner",
    "MinerFunction",
    "MinerOutput",
    "PairMarginMiner",
    "Pairs",
    "SemiHardMiner",
    "TripletMarginMiner",
    "TripletMiner",
    "Triplets",
    "as_selection",
    "check_batch",
    "convert_to_pairs",
    "convert_to_triplets",
    "valid_triplet_mask",
]

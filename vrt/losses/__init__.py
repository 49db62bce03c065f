"""Hashing losses: ``loss(embeddings (B, bits), labels (B,)) -> scalar``.

Each loss module registers itself in :data:`vrt.registry.LOSSES` (the registry imports every
module of this package on its first lookup); miners live in :mod:`vrt.losses.miners`
(registry ``MINERS``), reducers in :mod:`vrt.losses.reducers` (registry ``REDUCERS``). A loss's
``miner`` and ``reduction`` are config sections of their own, which vrt builds and passes to the
loss (:mod:`vrt.components`).
"""

from __future__ import annotations

from vrt.losses.bit_balance import BitBalanceLoss
from vrt.losses.classification import ClassificationLoss
from vrt.losses.contrastive import ContrastiveLoss
from vrt.losses.csq import CSQLoss, hadamard_matrix
from vrt.losses.distances import pairwise_squared_distances
from vrt.losses.dpsh import DPSHLoss
from vrt.losses.hashnet import HashNetLoss
from vrt.losses.quantization import QuantizationLoss
from vrt.losses.triplet_ranking import TripletRankingLoss

__all__ = [
    "BitBalanceLoss",
    "CSQLoss",
    "ClassificationLoss",
    "ContrastiveLoss",
    "DPSHLoss",
    "HashNetLoss",
    "QuantizationLoss",
    "TripletRankingLoss",
    "hadamard_matrix",
    "pairwise_squared_distances",
]

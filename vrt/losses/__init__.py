"""Hashing losses: ``loss(embeddings (B, bits), labels (B,)) -> scalar``.

Importing this package registers the built-in losses in :data:`vrt.registry.LOSSES`; miners
live in :mod:`vrt.losses.miners` (registry ``MINERS``).
"""

from __future__ import annotations

# Importing the modules registers them.
from vrt.losses import (  # noqa: F401
    bit_balance,
    classification,
    contrastive,
    csq,
    dpsh,
    hashnet,
    quantization,
    triplet_ranking,
)
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

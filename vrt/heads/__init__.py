"""Hash heads: backbone features to real-valued codes (see :mod:`vrt.heads.base`).

Each head module registers itself in :data:`vrt.registry.HEADS`, which imports every module of
this package on its first lookup.
"""

from __future__ import annotations

from vrt.codes import check_bits
from vrt.heads.base import HashHead
from vrt.heads.divide_and_encode import DivideAndEncodeHead
from vrt.heads.linear import LinearHashHead
from vrt.heads.mlp import MLPHashHead

__all__ = ["DivideAndEncodeHead", "HashHead", "LinearHashHead", "MLPHashHead", "check_bits"]

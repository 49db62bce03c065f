"""Hash heads: backbone features to real-valued codes (see :mod:`vrt.heads.base`).

Importing this package registers the built-in heads in :data:`vrt.registry.HEADS`.
"""

from __future__ import annotations

from vrt.heads import divide_and_encode, linear, mlp  # noqa: F401  (import registers them)
from vrt.heads.base import HashHead, check_bits
from vrt.heads.divide_and_encode import DivideAndEncodeHead
from vrt.heads.linear import LinearHashHead
from vrt.heads.mlp import MLPHashHead

__all__ = ["DivideAndEncodeHead", "HashHead", "LinearHashHead", "MLPHashHead", "check_bits"]

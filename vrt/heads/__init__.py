"""Hash heads: backbone features to real-valued codes (see :mod:`vrt.heads.base`).

Importing this package registers the built-in heads in :data:`vrt.registry.HEADS`.
"""

from __future__ import annotations

from vrt.heads import linear  # noqa: F401  (import registers it)
from vrt.heads.base import HashHead, check_bits
from vrt.heads.linear import LinearHashHead

__all__ = ["HashHead", "LinearHashHead", "check_bits"]

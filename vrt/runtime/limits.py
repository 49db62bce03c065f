"""Upper bounds on what a config or an input file may ask vrt to allocate (documented in docs/robustness.md).

A codes file, an index or a list file comes from anywhere; the numbers in it (a code length, a
class id, an array's declared shape) decide how much memory vrt allocates. These limits, far
above any real use, turn an absurd number into a clear error instead of an allocator failure.
"""

from __future__ import annotations

import os

from vrt.errors import VrtError

__all__ = [
    "DEFAULT_MAX_EXPANSION",
    "EXPANSION_VARIABLE",
    "MAX_BITS",
    "MAX_CLASSES",
    "MIN_INFLATE_BUDGET",
    "max_expansion",
]

#: The longest code, in bits (512 bytes per code); hashing codes are 16 to 256 bits in practice.
MAX_BITS = 4096

#: Class ids (labels) must lie in [0, MAX_CLASSES): metrics count items per class id.
MAX_CLASSES = 1_000_000

#: The arrays of an .npz file may hold at most this many times the file's size once inflated
#: (vrt writes them uncompressed; a compressed file of real codes shrinks far less than this).
DEFAULT_MAX_EXPANSION = 100

#: ... or this many bytes, whichever is larger, so that small compressed files always load.
MIN_INFLATE_BUDGET = 16 * 2**20

EXPANSION_VARIABLE = "VRT_MAX_EXPANSION"


def max_expansion() -> float:
    """The allowed inflation factor: ``VRT_MAX_EXPANSION`` when set (the flag for huge files)."""
    value = os.environ.get(EXPANSION_VARIABLE, "").strip()
    if not value:
        return DEFAULT_MAX_EXPANSION
    try:
        factor = float(value)
    except ValueError:
        factor = -1.0
    if not factor >= 1:
        raise VrtError(
            f"{EXPANSION_VARIABLE}={value!r}: expected a number >= 1 (how many times an .npz may inflate)"
        )
    return factor

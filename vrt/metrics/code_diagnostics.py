"""Diagnostics of a set of binary codes: are they spread over the Hamming space or collapsed?

A model that maps every video to the same few codes can still score well above chance when ties
are broken in database order; these statistics say so whatever the metrics say. numpy only;
``docs/metrics.md`` defines every field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vrt.codes import CodeSet

__all__ = [
    "CONSTANT_BIT_MIN_ITEMS",
    "TOP_CODE_SHARE_LIMIT",
    "CodeStats",
    "code_stats",
    "code_warnings",
    "degenerate_code_warnings",
]

#: Codes are degenerate when more than this share of the items have one same code ...
TOP_CODE_SHARE_LIMIT = 0.5
#: ... and a bit equal on every item of a set this large is a wasted bit: a bit set on half of
#: the items by chance is constant over 16 of them with probability 2**-15, over fewer it may be.
#: These two thresholds are the only ones: training, results.json and vrt eval all use them.
CONSTANT_BIT_MIN_ITEMS = 16
# Items unpacked at once (a byte per bit): 64 bits x 16,384 items is 1 MiB, 4 MiB as float32,
# whose sums (below 2**24) are exact and twice as fast as float64's.
_ITEMS_PER_CHUNK = 1 << 14


@dataclass(frozen=True)
class CodeStats:
    """How a set of ``size`` codes of ``bits`` bits uses the code space.

    ``bit_balance[b]`` is the fraction of items whose bit ``b`` is 1 (bit order as in the codes
    file: bit 0 is the most significant bit of the first byte). ``mean_abs_bit_correlation`` is
    the mean over all pairs of non-constant bits of the absolute Pearson (phi) correlation of the
    two bits across the items; None with fewer than two non-constant bits.
    """

    size: int
    bits: int
    unique_codes: int
    unique_fraction: float
    top_code_share: float
    constant_bits: int
    mean_abs_bit_correlation: float | None
    bit_balance: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "bits": self.bits,
            "unique_codes": self.unique_codes,
            "unique_fraction": self.unique_fraction,
            "top_code_share": self.top_code_share,
            "constant_bits": self.constant_bits,
            "mean_abs_bit_correlation": self.mean_abs_bit_correlation,
            "bit_balance": list(self.bit_balance),
        }


def _code_counts(packed: np.ndarray) -> np.ndarray:
    """How many items hold each distinct code (packed rows compared as whole 64-bit words)."""
    num_items, num_bytes = packed.shape
    words = -(-num_bytes // 8)
    padded = np.zeros((num_items, 8 * words), dtype=np.uint8)
    padded[:, :num_bytes] = packed
    keys = padded.view(np.uint64)
    if words == 1:
        return np.unique(keys.reshape(-1), return_counts=True)[1]
    return np.unique(keys, axis=0, return_counts=True)[1]


def _bit_counts(packed: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Items with each bit set ``[bits]`` and with each pair of bits set ``[bits, bits]`` (exact).

    A chunk of items at a time: unpacked bits take a byte per bit, 64x the packed codes.
    """
    both = np.zeros((bits, bits))
    for start in range(0, packed.shape[0], _ITEMS_PER_CHUNK):
        chunk = np.unpackbits(packed[start : start + _ITEMS_PER_CHUNK], axis=1, count=bits)
        as_float = chunk.astype(np.float32)  # sums of 0/1 below 2**24 are exact in float32
        both += as_float.T @ as_float
    ones = np.diagonal(both).round().astype(np.int64)  # a bit is set with itself when it is set
    return ones, both


def _mean_abs_correlation(ones: np.ndarray, both: np.ndarray, size: int) -> float | None:
    """Mean |phi| over the pairs of non-constant bits, from the bit and bit-pair counts."""
    varying = np.flatnonzero((ones > 0) & (ones < size))
    if varying.shape[0] < 2:
        return None
    share = ones[varying] / size
    covariance = both[np.ix_(varying, varying)] / size - np.outer(share, share)
    deviation = np.sqrt(share * (1 - share))
    correlation = covariance / np.outer(deviation, deviation)
    upper = np.triu_indices(varying.shape[0], k=1)
    return float(np.mean(np.abs(correlation[upper])))


def code_stats(codes: CodeSet) -> CodeStats:
    """The diagnostics of ``codes`` (see :class:`CodeStats`)."""
    size, packed = len(codes), codes.codes
    if size == 0:
        raise ValueError("no codes to describe")
    counts = _code_counts(packed)
    ones, both = _bit_counts(packed, codes.bits)
    return CodeStats(
        size=size,
        bits=codes.bits,
        unique_codes=int(counts.shape[0]),
        unique_fraction=counts.shape[0] / size,
        top_code_share=int(counts.max()) / size,
        constant_bits=int(np.count_nonzero((ones == 0) | (ones == size))),
        mean_abs_bit_correlation=_mean_abs_correlation(ones, both, size),
        bit_balance=tuple((ones / size).tolist()),
    )


def degenerate_code_warnings(stats: CodeStats, *, name: str) -> list[str]:
    """Why the codes described by ``stats`` look collapsed, one sentence each; [] when they do not.

    A set of one code says nothing about the spread and gets no warning; constant bits are
    judged from :data:`CONSTANT_BIT_MIN_ITEMS` items on.
    """
    if stats.size < 2:
        return []
    warnings = []
    if stats.top_code_share > TOP_CODE_SHARE_LIMIT:
        warnings.append(
            f"degenerate {name}: {stats.top_code_share:.1%} of the {stats.size} items share one code "
            f"(more than {TOP_CODE_SHARE_LIMIT:.0%}; {stats.unique_codes} distinct "
            f"code{'' if stats.unique_codes == 1 else 's'})"
        )
    if stats.constant_bits and stats.size >= CONSTANT_BIT_MIN_ITEMS:
        warnings.append(
            f"degenerate {name}: {stats.constant_bits} of the {stats.bits} bits never change over the "
            f"{stats.size} items (wasted: the codes use {stats.bits - stats.constant_bits} bits)"
        )
    return warnings


def code_warnings(codes: CodeSet, *, name: str = "codes") -> list[str]:
    """Warnings about collapsed codes, e.g. for a training loop's validation codes.

    ``name`` opens each sentence (``"degenerate validation codes: ..."``).
    """
    return degenerate_code_warnings(code_stats(codes), name=name)

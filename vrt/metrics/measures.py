"""Per-query retrieval measures computed from a :class:`~vrt.metrics.ranking.BlockRanking`.

numpy only. The definitions are those of ``docs/metrics.md``; each function here computes one of
them for a block of queries at once, from the relevant items' ranks and the counts per distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vrt.metrics.ranking import BlockRanking

__all__ = [
    "BlockScores",
    "average_precision",
    "average_precision_at_k",
    "harmonic_numbers",
    "map_at_k_steps",
    "ordinals",
    "relevant_within",
    "score_block",
    "tie_aware_average_precision",
]

_EULER_GAMMA = 0.57721566490153286061
# Below this, harmonic numbers are summed exactly; from it on, the asymptotic series is exact to
# the last bit (its first omitted term is under 2e-17 at 64).
_HARMONIC_SERIES_FROM = 64


@dataclass(frozen=True, eq=False)
class BlockScores:
    """Per-query values of one block (``b`` queries); AP values are NaN without a relevant item."""

    average_precision: np.ndarray  # float64 [b]
    average_precision_at_k: np.ndarray  # float64 [b]
    average_precision_tie_aware: np.ndarray  # float64 [b]
    found_at_k: np.ndarray  # int64 [b], relevant items in the top K'
    within: np.ndarray  # int64 [b, bits + 1], items at distance <= r
    relevant_within: np.ndarray  # int64 [b, bits + 1], relevant items at distance <= r
    step_ranks: np.ndarray  # int64 [M], see map_at_k_steps
    steps: np.ndarray  # float64 [M]


def harmonic_numbers(n: int) -> np.ndarray:
    """``H_0 .. H_n`` (``H_k = 1 + 1/2 + ... + 1/k``) in float64, each correct to rounding.

    A running sum would drift by about ``n`` ulps, which the tie-aware AP of a large database
    would feel in the differences ``H_b - H_a`` of nearby values.
    """
    exact = min(n + 1, _HARMONIC_SERIES_FROM)
    table = np.empty(n + 1, dtype=np.float64)
    table[:exact] = [math.fsum(1.0 / j for j in range(1, k + 1)) for k in range(exact)]
    if n + 1 > exact:
        k = np.arange(exact, n + 1, dtype=np.float64)
        inv2 = 1.0 / (k * k)
        series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 / 240)))
        table[exact:] = np.log(k) + _EULER_GAMMA + 0.5 / k - series
    return table


def ordinals(rows: np.ndarray, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Relevant items found per query and each item's 1-based position among its query's items.

    ``rows`` must be grouped by query (as a BlockRanking's are).
    """
    found = np.bincount(rows, minlength=num_rows)
    first = np.cumsum(found) - found
    ordinal = np.arange(1, rows.shape[0] + 1) - np.repeat(first, found)
    return found, ordinal


def average_precision(rows: np.ndarray, precision: np.ndarray, num_relevant: np.ndarray) -> np.ndarray:
    """AP per query: the sum of the precisions at its relevant items over its relevant items.

    NaN for queries without a relevant item (``num_relevant == 0``).
    """
    total = np.bincount(rows, weights=precision, minlength=num_relevant.shape[0])
    return np.where(num_relevant > 0, total / np.maximum(num_relevant, 1), np.nan)


def average_precision_at_k(
    rows: np.ndarray, precision: np.ndarray, in_top: np.ndarray, num_relevant: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """AP@K per query and the relevant items found in the top K' (``in_top`` marks them).

    AP@K averages the precisions over the relevant items found in the top K', and is 0 when the
    query has relevant items but none there; NaN without relevant items.
    """
    num_rows = num_relevant.shape[0]
    top_rows = rows[in_top]
    found = np.bincount(top_rows, minlength=num_rows)
    total = np.bincount(top_rows, weights=precision[in_top], minlength=num_rows)
    return np.where(num_relevant > 0, total / np.maximum(found, 1), np.nan), found


def relevant_within(rows: np.ndarray, distances: np.ndarray, num_rows: int, levels: int) -> np.ndarray:
    """``[b, levels]`` relevant items at distance ``<= r`` from each query."""
    counts = np.bincount(rows * levels + distances, minlength=num_rows * levels).reshape(num_rows, levels)
    return np.cumsum(counts, axis=1)


def tie_aware_average_precision(
    within: np.ndarray, relevant_within: np.ndarray, harmonic: np.ndarray
) -> np.ndarray:
    """Expected AP when the items at each distance come in a uniformly random order.

    McSherry & Najork (2008), in closed form per tie group (the items at one distance): with
    ``a`` items and ``R`` relevant items before the group, ``n`` items of which ``r`` relevant in
    it, and ``dH = H_{a+n} - H_a``, the group adds to the sum of precisions

        r/n * [ (R + 1) dH + (r - 1)/(n - 1) * (n - (a + 1) dH) ]

    (the second term is 0 when ``n = 1``). A relevant item at position ``p`` of the group has on
    average ``(p - 1)(r - 1)/(n - 1)`` relevant items before it in the group; summing the expected
    precision ``(R + 1 + that) / (a + p)`` over the ``n`` equally likely positions gives the
    formula. The AP is that sum over the groups divided by the number of relevant items.
    """
    num_levels = within.shape[1]
    relevant_counts = np.diff(relevant_within, axis=1, prepend=0).reshape(-1)
    groups = np.flatnonzero(relevant_counts)  # the groups holding a relevant item, row by row
    rows = groups // num_levels
    relevant = relevant_counts[groups].astype(np.float64)
    size = np.diff(within, axis=1, prepend=0).reshape(-1)[groups]
    before = within.reshape(-1)[groups] - size
    relevant_before = relevant_within.reshape(-1)[groups] - relevant
    spread = harmonic[before + size] - harmonic[before]
    pairs = np.where(size > 1, (relevant - 1) / np.maximum(size - 1, 1), 0.0)
    gain = relevant / size * ((relevant_before + 1) * spread + pairs * (size - (before + 1) * spread))
    total = np.bincount(rows, weights=gain, minlength=within.shape[0])
    num_relevant = relevant_within[:, -1]
    result = np.full(within.shape[0], np.nan)
    np.divide(total, num_relevant, out=result, where=num_relevant > 0)
    return result


def map_at_k_steps(
    rows: np.ndarray, precision: np.ndarray, ordinal: np.ndarray, found: np.ndarray
) -> np.ndarray:
    """How each relevant item changes its query's AP@K as K reaches the item's rank.

    AP@K is 0 until the first relevant item, then ``S_i / i`` from the ``i``-th relevant item's
    rank on (``S_i`` the sum of the first ``i`` precisions). Summing these steps over the queries
    at each rank and accumulating over K gives mAP@K for every K in one pass.
    """
    if rows.shape[0] == 0:
        return np.empty(0)
    # Per-query running sums on a padded table: a running sum across queries would carry
    # rounding from one query into the next.
    table = np.zeros((found.shape[0], int(found.max())))
    table[rows, ordinal - 1] = precision
    np.cumsum(table, axis=1, out=table)
    value = table[rows, ordinal - 1] / ordinal
    previous = np.empty_like(value)
    previous[0] = 0.0
    previous[1:] = value[:-1]
    previous[ordinal == 1] = 0.0
    return value - previous


def score_block(
    ranking: BlockRanking,
    num_relevant: np.ndarray,
    *,
    depth: int,
    harmonic: np.ndarray,
    steps: bool = True,
) -> BlockScores:
    """The per-query values of one block; ``depth`` is ``min(K, Ndb)``, ``harmonic`` ``H_0..H_Ndb``.

    Precision and recall within a radius need only ``within`` and ``relevant_within`` and are
    computed from them for all queries at once. ``steps=False`` skips the mAP@K-curve steps.
    """
    rows, ranks = ranking.rows, ranking.ranks
    num_rows, levels = ranking.within.shape
    found, ordinal = ordinals(rows, num_rows)
    if not np.array_equal(found, num_relevant):
        raise RuntimeError("internal error: the ranking lost relevant items")
    precision = ordinal / ranks
    ap_at_k, found_at_k = average_precision_at_k(rows, precision, ranks <= depth, num_relevant)
    relevant_counts = relevant_within(rows, ranking.distances, num_rows, levels)
    return BlockScores(
        average_precision=average_precision(rows, precision, num_relevant),
        average_precision_at_k=ap_at_k,
        # Row by row: the same values as over all queries at once.
        average_precision_tie_aware=tie_aware_average_precision(ranking.within, relevant_counts, harmonic),
        found_at_k=found_at_k,
        within=ranking.within,
        relevant_within=relevant_counts,
        step_ranks=ranks if steps else ranks[:0],
        steps=map_at_k_steps(rows, precision, ordinal, found) if steps else precision[:0],
    )

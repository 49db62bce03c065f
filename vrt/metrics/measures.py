"""Per-query measures of the stable ranking (ties in database order), block by block.

numpy only. The definitions are those of ``docs/metrics.md``; each function here computes one of
them for a block of queries at once from a :class:`~vrt.metrics.ranking.BlockRanking`: the
relevant items' ranks and the counts per distance. The tie-aware measures, which need only the
counts, are in :mod:`vrt.metrics.tie_aware`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrt.metrics.ranking import BlockRanking
from vrt.metrics.tie_aware import TieAwareScores, tie_aware_scores

__all__ = [
    "BlockScores",
    "average_precision",
    "average_precision_at_k",
    "map_at_k_steps",
    "ordinals",
    "relevant_within",
    "score_block",
]


@dataclass(frozen=True, eq=False)
class BlockScores:
    """Per-query values of one block (``b`` queries), ties in database order.

    AP values are NaN without a relevant item.
    """

    average_precision: np.ndarray  # float64 [b]
    average_precision_at_k: np.ndarray  # float64 [b]
    found_at_k: np.ndarray  # int64 [b], relevant items in the top K'
    tie_aware: TieAwareScores
    within: np.ndarray  # int64 [b, bits + 1], items at distance <= r
    relevant_within: np.ndarray  # int64 [b, bits + 1], relevant items at distance <= r
    step_ranks: np.ndarray  # int64 [M], see map_at_k_steps
    steps: np.ndarray  # float64 [M]
    step_precision: np.ndarray  # float64 [M], the precision at each relevant rank (the papers' mAP@K)


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
        found_at_k=found_at_k,
        # Row by row: the same values as over all queries at once.
        tie_aware=tie_aware_scores(ranking.within, relevant_counts, depth=depth, harmonic=harmonic),
        within=ranking.within,
        relevant_within=relevant_counts,
        step_ranks=ranks if steps else ranks[:0],
        steps=map_at_k_steps(rows, precision, ordinal, found) if steps else precision[:0],
        step_precision=precision if steps else precision[:0],
    )

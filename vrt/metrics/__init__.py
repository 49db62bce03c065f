"""Retrieval metrics over binary codes: Hamming distances and rank-based scores.

numpy only, never torch: ``vrt eval`` on code files must start and run without the training
stack. The definitions are written out in ``docs/metrics.md``.
"""

from __future__ import annotations

from vrt.metrics.blocks import (
    MEMORY_CAP,
    PAIRS_PER_BLOCK,
    available_memory,
    default_block_size,
    default_memory_budget,
    default_workers,
)
from vrt.metrics.definitions import METRIC_DEFINITIONS, METRIC_DEFINITIONS_VERSION
from vrt.metrics.hamming import POPCOUNT_TABLE, HammingScanner, distance_dtype, hamming_distances
from vrt.metrics.measures import harmonic_numbers, tie_aware_average_precision
from vrt.metrics.ranking import BlockRanker, BlockRanking
from vrt.metrics.retrieval import (
    ClassScore,
    PRCurve,
    QueryScores,
    RetrievalReport,
    evaluate_retrieval,
    score_queries,
)

__all__ = [
    "MEMORY_CAP",
    "METRIC_DEFINITIONS",
    "METRIC_DEFINITIONS_VERSION",
    "PAIRS_PER_BLOCK",
    "POPCOUNT_TABLE",
    "BlockRanker",
    "BlockRanking",
    "ClassScore",
    "HammingScanner",
    "PRCurve",
    "QueryScores",
    "RetrievalReport",
    "available_memory",
    "default_block_size",
    "default_memory_budget",
    "default_workers",
    "distance_dtype",
    "evaluate_retrieval",
    "hamming_distances",
    "harmonic_numbers",
    "score_queries",
    "tie_aware_average_precision",
]

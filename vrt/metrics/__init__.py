"""Retrieval metrics over binary codes: Hamming distances, rank-based scores, code diagnostics.

numpy only, never torch: ``vrt eval`` on code files must start and run without the training
stack. The definitions are written out in ``docs/metrics.md``. The headline values are
tie-aware (expected over random orders of equally distant items); ``code_warnings`` tells a
training loop when its codes have collapsed.
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
from vrt.metrics.code_diagnostics import CodeStats, code_stats, code_warnings, degenerate_code_warnings
from vrt.metrics.definitions import METRIC_DEFINITIONS, METRIC_DEFINITIONS_VERSION
from vrt.metrics.hamming import POPCOUNT_TABLE, HammingScanner, distance_dtype, hamming_distances
from vrt.metrics.ranking import BlockRanker, BlockRanking
from vrt.metrics.retrieval import UnlabelledQueryError, evaluate_retrieval, score_queries
from vrt.metrics.scores import ClassScore, PRCurve, QueryScores, RetrievalReport
from vrt.metrics.tie_aware import harmonic_numbers, tie_aware_average_precision

__all__ = [
    "MEMORY_CAP",
    "METRIC_DEFINITIONS",
    "METRIC_DEFINITIONS_VERSION",
    "PAIRS_PER_BLOCK",
    "POPCOUNT_TABLE",
    "BlockRanker",
    "BlockRanking",
    "ClassScore",
    "CodeStats",
    "HammingScanner",
    "PRCurve",
    "QueryScores",
    "RetrievalReport",
    "UnlabelledQueryError",
    "available_memory",
    "code_stats",
    "code_warnings",
    "default_block_size",
    "default_memory_budget",
    "default_workers",
    "degenerate_code_warnings",
    "distance_dtype",
    "evaluate_retrieval",
    "hamming_distances",
    "harmonic_numbers",
    "score_queries",
    "tie_aware_average_precision",
]

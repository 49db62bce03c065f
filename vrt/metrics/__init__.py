"""Retrieval metrics over binary codes: Hamming distances and rank-based scores.

numpy only, never torch: ``vrt eval`` on code files must start and run without the training
stack. The definitions are written out in ``docs/metrics.md``.
"""

from __future__ import annotations

from vrt.metrics.hamming import POPCOUNT_TABLE, HammingScanner, distance_dtype, hamming_distances
from vrt.metrics.retrieval import (
    DEFAULT_MEMORY_BUDGET,
    QueryScores,
    RetrievalReport,
    default_block_size,
    evaluate_retrieval,
    score_queries,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "POPCOUNT_TABLE",
    "HammingScanner",
    "QueryScores",
    "RetrievalReport",
    "default_block_size",
    "distance_dtype",
    "evaluate_retrieval",
    "hamming_distances",
    "score_queries",
]

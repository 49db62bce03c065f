"""Retrieval metrics over binary codes: Hamming distances, rank-based scores, code diagnostics.

numpy only, never torch: ``vrt eval`` on code files must start and run without the training
stack. The definitions are written out in ``docs/metrics.md``. The headline values are
tie-aware (expected over random orders of equally distant items); ``code_warnings`` tells a
training loop when its codes have collapsed.
"""

from __future__ import annotations

from vrt.metrics.code_diagnostics import CodeStats, code_stats, code_warnings
from vrt.metrics.definitions import METRIC_DEFINITIONS, METRIC_DEFINITIONS_VERSION
from vrt.metrics.hamming import hamming_distances
from vrt.metrics.retrieval import UnlabelledQueryError, evaluate_retrieval, score_queries
from vrt.metrics.scores import ClassScore, PRCurve, QueryScores, RetrievalReport
from vrt.metrics.tie_aware import tie_aware_average_precision

# What users call; the engines behind them (block planning, ranking, counting, memory budgets)
# are imported from their modules (vrt.metrics.blocks, .ranking, .hamming, ...).
__all__ = [
    "METRIC_DEFINITIONS",
    "METRIC_DEFINITIONS_VERSION",
    "ClassScore",
    "CodeStats",
    "PRCurve",
    "QueryScores",
    "RetrievalReport",
    "UnlabelledQueryError",
    "code_stats",
    "code_warnings",
    "evaluate_retrieval",
    "hamming_distances",
    "score_queries",
    "tie_aware_average_precision",
]

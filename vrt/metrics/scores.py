"""What an evaluation returns: per-query values (:class:`QueryScores`) and their means.

The headline values are tie-aware: the expectation over uniformly random orders of the items
at equal Hamming distance (:mod:`vrt.metrics.tie_aware`). The values of the stable ranking,
ties in database order, carry a ``database_order`` suffix. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vrt.metrics.code_diagnostics import CodeStats, degenerate_code_warnings

__all__ = ["PAPERS_KS", "ClassScore", "PRCurve", "QueryScores", "RetrievalReport"]


#: The K of the self-supervised video hashing papers' mAP@K tables (SSVH, BTH, ConMH, S5VH).
PAPERS_KS = (5, 20, 40, 60, 80, 100)


def _finite_or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


@dataclass(frozen=True)
class RetrievalReport:
    """Aggregated metrics of one query set against one database.

    ``map``, ``map_at_k``, ``precision_at_k`` and ``recall_at_k`` are tie-aware; the
    ``*_database_order`` fields are those of the stable ranking, and NaN when they were not
    computed (``database_order`` False, see :func:`~vrt.metrics.retrieval.score_queries`). The
    AP-based means and the recalls are NaN when no query has a relevant item in the database
    (:meth:`to_dict` turns NaN into None so the dictionary stays valid JSON). ``warnings`` says
    what makes the figures doubtful: collapsed codes, or K beyond the database size.
    """

    map: float
    map_database_order: float
    map_at_k: float
    map_at_k_database_order: float
    precision_at_k: float
    precision_at_k_database_order: float
    recall_at_k: float
    recall_at_k_database_order: float
    precision_at_radius: float
    topk: int
    radius: int
    num_queries: int
    num_database: int
    num_queries_without_relevant: int
    query_codes: CodeStats
    database_codes: CodeStats
    warnings: tuple[str, ...]
    database_order: bool = True  # whether the *_database_order values were computed
    # The papers' mAP@K, (K, value) at PAPERS_KS up to the database size; empty unless ranked.
    papers_map_at: tuple[tuple[int, float], ...] = ()

    @property
    def topk_used(self) -> int:
        """The K the top-K values were measured at: K, or the database size when that is smaller."""
        return min(self.topk, self.num_database)

    @property
    def k_label(self) -> str:
        """K as tables and plots name it: ``100``, or ``9 (K=100 asked)`` when the database is smaller."""
        return k_label(self.topk, self.topk_used)

    def to_dict(self) -> dict[str, Any]:
        """Flat dictionary with K and r in the key names (``map@100``, ``precision@H<=2``).

        K in the names is the one used (:attr:`topk_used`: ``map@9`` against a database of 9
        items, whatever K was asked); ``topk`` records both. Also ``code_stats`` (``{"query":
        ..., "database": ...}``) and the ``warnings`` list. The ``*_database_order`` keys are
        always there, None when they were not computed; the papers' mAP@K values
        (``map@5_papers``, ...) when they were.
        """
        k = self.topk_used
        papers = {f"map@{depth}_papers": value for depth, value in self.papers_map_at}
        return {
            "map": _finite_or_none(self.map),
            "map_database_order": _finite_or_none(self.map_database_order),
            f"map@{k}": _finite_or_none(self.map_at_k),
            f"map@{k}_database_order": _finite_or_none(self.map_at_k_database_order),
            f"precision@{k}": float(self.precision_at_k),
            f"precision@{k}_database_order": _finite_or_none(self.precision_at_k_database_order),
            f"recall@{k}": _finite_or_none(self.recall_at_k),
            f"recall@{k}_database_order": _finite_or_none(self.recall_at_k_database_order),
            f"precision@H<={self.radius}": float(self.precision_at_radius),
            **papers,
            "topk": {"asked": self.topk, "used": k},
            "num_queries": self.num_queries,
            "num_database": self.num_database,
            "num_queries_without_relevant": self.num_queries_without_relevant,
            "code_stats": {"query": self.query_codes.to_dict(), "database": self.database_codes.to_dict()},
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, eq=False)
class PRCurve:
    """Precision and recall within each Hamming radius ``0..bits`` (means over queries)."""

    radius: np.ndarray  # int64 [bits + 1]
    precision: np.ndarray  # float64, P@H<=r averaged over all queries
    recall: np.ndarray  # float64, recall within r averaged over queries with a relevant item
    retrieving: np.ndarray  # float64, fraction of queries with at least one item within r


@dataclass(frozen=True)
class ClassScore:
    """AP of the queries of one class: the mean over those with a relevant item (NaN if none).

    ``average_precision`` is tie-aware, ``average_precision_database_order`` that of the stable ranking.
    """

    label: int
    name: str | None
    average_precision: float
    average_precision_database_order: float
    num_queries: int
    num_queries_without_relevant: int


def k_label(asked: int, used: int) -> str:
    """``100``, or ``9 (K=100 asked)``: the K a top-K value was measured at, and the K asked when they differ."""
    return str(used) if used == asked else f"{used} (K={asked} asked)"


def topk_warnings(topk: int, num_database: int) -> list[str]:
    """The warning for a K beyond the database, whose top-K measures are then taken at K' = Ndb."""
    if topk <= num_database:
        return []
    return [
        f"topk {topk} exceeds the database size {num_database}: mAP@K, P@K and R@K are computed "
        f"at K' = {num_database}"
    ]


def unlabelled_warnings(unlabelled: int, num_database: int) -> list[str]:
    """The warning for unlabelled database items, which count as relevant to no query."""
    if not unlabelled:
        return []
    return [
        f"{unlabelled} of the {num_database} database items are unlabelled (label -1): they are ranked "
        "but relevant to no query, which can only lower the figures"
    ]


@dataclass(frozen=True, eq=False)
class QueryScores:
    """Per-query values behind a :class:`RetrievalReport`, for per-class or per-query analysis.

    Unsuffixed values are tie-aware (expectations over random orders within tie groups; the
    ``precision_at_k`` and ``recall_at_k`` of a query are then fractional), ``*_database_order``
    values those of the stable ranking (all NaN when ``database_order`` is False: they were not
    computed). The AP arrays and recalls are NaN for queries without a relevant item in the
    database (``num_relevant == 0``). ``within[q, r]`` and ``relevant_within[q, r]`` count the
    items and the relevant items at distance ``<= r``.
    ``map_at_k_curve[K - 1]`` is mAP@K with ties in database order (a tie-aware value for every
    K would cost a hypergeometric sum per query and K). ``papers_map_at_k_curve[K - 1]`` is the
    self-supervised video hashing papers' mAP@K (precisions summed over the top K, divided by K,
    averaged over every query; ties in database order), for comparison with their tables.
    """

    average_precision: np.ndarray  # float64 [Nq]
    average_precision_database_order: np.ndarray  # float64 [Nq]
    average_precision_at_k: np.ndarray  # float64 [Nq]
    average_precision_at_k_database_order: np.ndarray  # float64 [Nq]
    precision_at_k: np.ndarray  # float64 [Nq]
    precision_at_k_database_order: np.ndarray  # float64 [Nq]
    recall_at_k: np.ndarray  # float64 [Nq]
    recall_at_k_database_order: np.ndarray  # float64 [Nq]
    num_relevant: np.ndarray  # int64 [Nq], relevant items in the whole database
    within: np.ndarray  # int64 [Nq, bits + 1]
    relevant_within: np.ndarray  # int64 [Nq, bits + 1]
    map_at_k_curve: np.ndarray  # float64 [Ndb], ties in database order
    papers_map_at_k_curve: np.ndarray  # float64 [Ndb], the papers' definition (divided by K)
    labels: np.ndarray  # int64 [Nq], the queries' labels as given
    class_names: list[str] | None
    topk: int
    radius: int
    num_database: int
    query_codes: CodeStats
    database_codes: CodeStats
    unlabelled_database: int = 0  # database items with label -1, relevant to no query
    database_order: bool = True  # whether the *_database_order values were computed

    @property
    def has_relevant(self) -> np.ndarray:
        return self.num_relevant > 0

    def precision_within(self, radius: int) -> np.ndarray:
        """P@H<=r of each query: 0 when no database item is within ``radius``."""
        retrieved = self.within[:, radius]
        result = np.zeros(retrieved.shape)
        np.divide(self.relevant_within[:, radius], retrieved, out=result, where=retrieved > 0)
        return result

    def recall_within(self, radius: int) -> np.ndarray:
        """Share of each query's relevant items within ``radius``; NaN without relevant items."""
        result = np.full(self.num_relevant.shape, np.nan)
        np.divide(self.relevant_within[:, radius], self.num_relevant, out=result, where=self.has_relevant)
        return result

    def warnings(self) -> list[str]:
        """Degenerate query or database codes, K beyond the database size, unlabelled database items."""
        return [
            *degenerate_code_warnings(self.query_codes, name="query codes"),
            *degenerate_code_warnings(self.database_codes, name="database codes"),
            *topk_warnings(self.topk, self.num_database),
            *unlabelled_warnings(self.unlabelled_database, self.num_database),
        ]

    def report(self) -> RetrievalReport:
        """Means over the queries (see ``docs/metrics.md`` for which queries each one covers)."""
        valid = self.has_relevant
        num_valid = int(valid.sum())

        def mean_valid(values: np.ndarray) -> float:
            # np.mean of a fixed array is deterministic: results do not depend on the blocks.
            return float(np.mean(values[valid])) if num_valid else float("nan")

        return RetrievalReport(
            map=mean_valid(self.average_precision),
            map_database_order=mean_valid(self.average_precision_database_order),
            map_at_k=mean_valid(self.average_precision_at_k),
            map_at_k_database_order=mean_valid(self.average_precision_at_k_database_order),
            precision_at_k=float(np.mean(self.precision_at_k)),
            precision_at_k_database_order=float(np.mean(self.precision_at_k_database_order)),
            recall_at_k=mean_valid(self.recall_at_k),
            recall_at_k_database_order=mean_valid(self.recall_at_k_database_order),
            precision_at_radius=float(np.mean(self.precision_within(self.radius))),
            topk=self.topk,
            radius=self.radius,
            num_queries=int(valid.shape[0]),
            num_database=self.num_database,
            num_queries_without_relevant=int(valid.shape[0] - num_valid),
            query_codes=self.query_codes,
            database_codes=self.database_codes,
            warnings=tuple(self.warnings()),
            database_order=self.database_order,
            papers_map_at=tuple(
                (depth, float(self.papers_map_at_k_curve[depth - 1]))
                for depth in PAPERS_KS
                if depth <= self.papers_map_at_k_curve.shape[0]
            ),
        )

    def pr_curve(self) -> PRCurve:
        """Precision and recall for every Hamming radius from 0 to the number of bits."""
        valid = self.has_relevant
        radii = np.arange(self.within.shape[1])
        # Column by column, with the same means as report(): P@H<=r here is the report's exactly.
        precision = [np.mean(self.precision_within(int(r))) for r in radii]
        recall = [np.mean(self.recall_within(int(r))[valid]) if valid.any() else np.nan for r in radii]
        return PRCurve(
            radius=radii,
            precision=np.array(precision),
            recall=np.array(recall),
            retrieving=(self.within > 0).mean(axis=0),
        )

    def per_class(self) -> list[ClassScore]:
        """AP per query class, in label order (classes without queries are not listed)."""
        scores = []
        for label in np.unique(self.labels):
            members = self.labels == label
            valid = members & self.has_relevant

            def class_mean(values: np.ndarray, valid: np.ndarray = valid) -> float:
                return float(np.mean(values[valid])) if valid.any() else float("nan")

            scores.append(
                ClassScore(
                    label=int(label),
                    name=self.class_names[label] if self.class_names is not None else None,
                    average_precision=class_mean(self.average_precision),
                    average_precision_database_order=class_mean(self.average_precision_database_order),
                    num_queries=int(members.sum()),
                    num_queries_without_relevant=int((members & ~self.has_relevant).sum()),
                )
            )
        return scores

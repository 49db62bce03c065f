"""Retrieval metrics over Hamming rankings (numpy only); ``docs/metrics.md`` is the reference.

Each query ranks the whole database by Hamming distance, ties in database order (a stable
sort); an item is relevant when it has the query's label. Per query:

* AP: the mean of the precision at the rank of every relevant item. Queries without a relevant
  item in the database are left out of every mean of AP (and of recall), and counted.
* tie-aware AP: the expected AP when the items at each distance come in random order
  (McSherry & Najork 2008, closed form; see :func:`~vrt.metrics.measures.tie_aware_average_precision`).
* AP@K: the mean precision at the relevant ranks within the top ``K' = min(K, Ndb)``, over the
  relevant items found there; 0 when none is (the DeepHash/DSH convention).
* precision@K: relevant items in the top K' over K'; recall@K: over all relevant items.
* precision within Hamming radius r (P@H<=r): relevant items at distance <= r over all items
  at distance <= r, and 0 when no item is that close; recall within r likewise over all
  relevant items. Averaged over all queries (precision) or queries with a relevant item (recall).

Queries are ranked in blocks (see :mod:`vrt.metrics.blocks`), so memory stays bounded whatever
the sizes, and the values do not depend on the block size, the engine or the number of threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrt.codes import CodeSet
from vrt.metrics.blocks import Block, Engine, default_workers, plan_blocks, run_in_order
from vrt.metrics.measures import BlockScores, harmonic_numbers, score_block
from vrt.metrics.ranking import BlockRanker

__all__ = [
    "ClassScore",
    "PRCurve",
    "QueryScores",
    "RetrievalReport",
    "evaluate_retrieval",
    "score_queries",
]


def _finite_or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


@dataclass(frozen=True)
class RetrievalReport:
    """Aggregated metrics of one query set against one database.

    The AP-based means and ``recall_at_k`` are NaN when no query has a relevant item in the
    database (:meth:`to_dict` turns NaN into None so the dictionary stays valid JSON).
    """

    map: float
    map_at_k: float
    precision_at_k: float
    topk: int
    num_queries: int
    num_database: int
    num_queries_without_relevant: int
    recall_at_k: float
    map_tie_aware: float
    precision_at_radius: float
    radius: int

    def to_dict(self) -> dict[str, float | int | None]:
        """Flat dictionary with K and r in the key names (``map@100``, ``precision@H<=2``)."""
        return {
            "map": _finite_or_none(self.map),
            "map_tie_aware": _finite_or_none(self.map_tie_aware),
            f"map@{self.topk}": _finite_or_none(self.map_at_k),
            f"precision@{self.topk}": float(self.precision_at_k),
            f"recall@{self.topk}": _finite_or_none(self.recall_at_k),
            f"precision@H<={self.radius}": float(self.precision_at_radius),
            "num_queries": self.num_queries,
            "num_database": self.num_database,
            "num_queries_without_relevant": self.num_queries_without_relevant,
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
    """AP of the queries of one class: the mean over those with a relevant item (NaN if none)."""

    label: int
    name: str | None
    average_precision: float
    num_queries: int
    num_queries_without_relevant: int


@dataclass(frozen=True, eq=False)
class QueryScores:
    """Per-query values behind a :class:`RetrievalReport`, for per-class or per-query analysis.

    The AP arrays and ``recall_at_k`` are NaN for queries without a relevant item in the
    database (``num_relevant == 0``). ``within[q, r]`` and ``relevant_within[q, r]`` count the
    items and the relevant items at distance ``<= r``. ``map_at_k_curve[K - 1]`` is mAP@K.
    """

    average_precision: np.ndarray  # float64 [Nq]
    average_precision_tie_aware: np.ndarray  # float64 [Nq]
    average_precision_at_k: np.ndarray  # float64 [Nq]
    precision_at_k: np.ndarray  # float64 [Nq]
    recall_at_k: np.ndarray  # float64 [Nq]
    num_relevant: np.ndarray  # int64 [Nq], relevant items in the whole database
    within: np.ndarray  # int64 [Nq, bits + 1]
    relevant_within: np.ndarray  # int64 [Nq, bits + 1]
    map_at_k_curve: np.ndarray  # float64 [Ndb]
    labels: np.ndarray  # int64 [Nq], the queries' labels as given
    class_names: list[str] | None
    topk: int
    radius: int
    num_database: int

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

    def report(self) -> RetrievalReport:
        """Means over the queries (see the module docstring for which queries each one covers)."""
        valid = self.has_relevant
        num_valid = int(valid.sum())

        def mean_valid(values: np.ndarray) -> float:
            # np.mean of a fixed array is deterministic: results do not depend on the blocks.
            return float(np.mean(values[valid])) if num_valid else float("nan")

        return RetrievalReport(
            map=mean_valid(self.average_precision),
            map_at_k=mean_valid(self.average_precision_at_k),
            precision_at_k=float(np.mean(self.precision_at_k)),
            topk=self.topk,
            num_queries=int(valid.shape[0]),
            num_database=self.num_database,
            num_queries_without_relevant=int(valid.shape[0] - num_valid),
            recall_at_k=mean_valid(self.recall_at_k),
            map_tie_aware=mean_valid(self.average_precision_tie_aware),
            precision_at_radius=float(np.mean(self.precision_within(self.radius))),
            radius=self.radius,
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
            name = self.class_names[label] if self.class_names is not None else None
            scores.append(
                ClassScore(
                    label=int(label),
                    name=name,
                    average_precision=float(np.mean(self.average_precision[valid]))
                    if valid.any()
                    else float("nan"),
                    num_queries=int(members.sum()),
                    num_queries_without_relevant=int((members & ~self.has_relevant).sum()),
                )
            )
        return scores


def _dense_labels(query: CodeSet, database: CodeSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels renumbered 0..C-1 over the database's classes (-1 for query classes it lacks).

    Also returns each database class's size.
    """
    classes, database_dense, class_sizes = np.unique(database.labels, return_inverse=True, return_counts=True)
    position = np.searchsorted(classes, query.labels)
    clipped = np.minimum(position, classes.shape[0] - 1)
    query_dense = np.where(classes[clipped] == query.labels, clipped, -1)
    return query_dense, database_dense.reshape(-1), class_sizes


def _check_int(value: object, *, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def _check_sets(query: CodeSet, database: CodeSet) -> None:
    if not isinstance(query, CodeSet) or not isinstance(database, CodeSet):
        raise TypeError("query and database must be CodeSet instances (see vrt.codes.load_codes)")
    if query.bits != database.bits:
        raise ValueError(f"query codes have {query.bits} bits but database codes have {database.bits}")
    if len(query) == 0 or len(database) == 0:
        raise ValueError(f"nothing to evaluate: {len(query)} queries, {len(database)} database items")
    if (
        query.class_names is not None
        and database.class_names is not None
        and query.class_names != database.class_names
    ):
        # Relevance compares label numbers, which only means something under one class list.
        raise ValueError("query and database codes were labelled with different class_names")


def score_queries(
    query: CodeSet,
    database: CodeSet,
    *,
    topk: int = 100,
    radius: int = 2,
    block_size: int | None = None,
    workers: int | None = None,
    engine: Engine = "sort",
    chunk_size: int | None = None,
    curve: bool = True,
) -> QueryScores:
    """Per-query metrics of ``query`` against ``database``.

    Args:
        query: codes of the queries.
        database: codes of the ranked collection (same number of bits).
        topk: K of mAP@K, precision@K and recall@K; may exceed the database size.
        radius: r of the precision within Hamming radius r, from 0 to the number of bits.
        block_size: queries ranked together; None sizes blocks for speed within the free memory
            (:func:`~vrt.metrics.blocks.default_block_size`).
        workers: threads ranking blocks side by side; None: one per core (at most 8).
        engine: ``sort`` or ``count`` (see :mod:`vrt.metrics.ranking`).
        chunk_size: database columns the sort engine ranks at once.
        curve: compute ``map_at_k_curve`` (mAP@K for every K); without it, the curve is empty.

    None of ``block_size``, ``workers``, ``engine`` and ``chunk_size`` changes a per-query value.
    """
    _check_sets(query, database)
    topk = _check_int(topk, name="topk")
    radius = _check_int(radius, name="radius", minimum=0)
    if radius > database.bits:
        raise ValueError(
            f"radius must lie in [0, {database.bits}] for {database.bits}-bit codes, got {radius}"
        )
    if engine not in ("sort", "count"):
        raise ValueError(f"engine must be 'sort' or 'count', got {engine!r}")
    workers = default_workers() if workers is None else _check_int(workers, name="workers")
    if block_size is not None:
        block_size = _check_int(block_size, name="block_size")
    if chunk_size is not None:
        chunk_size = _check_int(chunk_size, name="chunk_size")

    num_queries, num_database = len(query), len(database)
    depth = min(topk, num_database)
    query_dense, database_dense, class_sizes = _dense_labels(query, database)
    num_relevant = np.where(query_dense >= 0, class_sizes[np.maximum(query_dense, 0)], 0).astype(np.int64)
    ranker = BlockRanker(database.codes, database_dense, chunk_size=chunk_size)
    labels = ranker.map_labels(query_dense)
    blocks = plan_blocks(labels, ranker, engine=engine, block_size=block_size, workers=workers)
    harmonic = harmonic_numbers(num_database)

    def rank_and_score(block: Block) -> BlockScores:
        codes = query.codes[block.queries]
        if block.counted:
            ranking = ranker.rank_counted(codes, block.label)
        else:
            ranking = ranker.rank_sorted(codes, block.labels, block.sizes)
        return score_block(ranking, num_relevant[block.queries], depth=depth, harmonic=harmonic, steps=curve)

    average_precision = np.empty(num_queries)
    average_precision_at_k = np.empty(num_queries)
    average_precision_tie_aware = np.empty(num_queries)
    found_at_k = np.empty(num_queries, dtype=np.int64)
    within = np.empty((num_queries, ranker.levels), dtype=np.int64)
    relevant_within = np.empty((num_queries, ranker.levels), dtype=np.int64)
    step_sum = _StepSum(num_database)
    for block, scores in zip(blocks, run_in_order(rank_and_score, blocks, workers=workers), strict=True):
        rows = block.queries
        average_precision[rows] = scores.average_precision
        average_precision_at_k[rows] = scores.average_precision_at_k
        average_precision_tie_aware[rows] = scores.average_precision_tie_aware
        found_at_k[rows] = scores.found_at_k
        within[rows] = scores.within
        relevant_within[rows] = scores.relevant_within
        if curve:
            step_sum.add(scores.step_ranks, scores.steps)

    has_relevant = num_relevant > 0
    recall_at_k = np.full(num_queries, np.nan)
    np.divide(found_at_k, num_relevant, out=recall_at_k, where=has_relevant)
    num_valid = int(has_relevant.sum())
    return QueryScores(
        average_precision=average_precision,
        average_precision_tie_aware=average_precision_tie_aware,
        average_precision_at_k=average_precision_at_k,
        precision_at_k=found_at_k / depth,
        recall_at_k=recall_at_k,
        num_relevant=num_relevant,
        within=within,
        relevant_within=relevant_within,
        map_at_k_curve=_curve_mean(step_sum, num_valid) if curve else np.empty(0),
        labels=query.labels,
        class_names=query.class_names if query.class_names is not None else database.class_names,
        topk=topk,
        radius=radius,
        num_database=num_database,
    )


def _curve_mean(step_sum: _StepSum, num_valid: int) -> np.ndarray:
    return step_sum.total() / num_valid if num_valid else np.full(step_sum.size, np.nan)


class _StepSum:
    """Sums per-rank steps into a curve over ranks 1..N, buffering blocks between bincounts.

    One dense bincount per block would cost O(N) each, which a million-item database with
    thousands of blocks would feel; buffering until about N steps keeps it O(total steps + N).
    """

    def __init__(self, size: int):
        self.size = size
        self.sums = np.zeros(size + 1)
        self._ranks: list[np.ndarray] = []
        self._steps: list[np.ndarray] = []
        self._pending = 0

    def add(self, ranks: np.ndarray, steps: np.ndarray) -> None:
        self._ranks.append(ranks)
        self._steps.append(steps)
        self._pending += ranks.shape[0]
        if self._pending >= max(self.size, 1 << 16):
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            ranks, steps = np.concatenate(self._ranks), np.concatenate(self._steps)
            self.sums += np.bincount(ranks, weights=steps, minlength=self.size + 1)
        self._ranks, self._steps, self._pending = [], [], 0

    def total(self) -> np.ndarray:
        """The accumulated curve at ranks 1..N."""
        self._flush()
        return np.cumsum(self.sums)[1:]


def evaluate_retrieval(
    query: CodeSet,
    database: CodeSet,
    *,
    topk: int = 100,
    radius: int = 2,
    block_size: int | None = None,
    workers: int | None = None,
    engine: Engine = "sort",
) -> RetrievalReport:
    """The metrics of ``query`` against ``database`` (see :func:`score_queries` for the arguments)."""
    scores = score_queries(
        query,
        database,
        topk=topk,
        radius=radius,
        block_size=block_size,
        workers=workers,
        engine=engine,
        curve=False,
    )
    return scores.report()

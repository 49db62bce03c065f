"""Retrieval metrics over Hamming rankings: mAP, mAP@K and precision@K (numpy only).

Definitions (``docs/metrics.md`` is the reference): each query ranks the whole database by
Hamming distance, ties in database order (a stable sort); an item is relevant when it has the
query's label.

* AP of a query: the mean, over every relevant database item, of the precision at its rank.
  Queries with no relevant item in the database have no AP: they are left out of mAP and
  counted in ``num_queries_without_relevant``.
* AP@K: the mean of the precision at each relevant rank within the top K, over the relevant
  items found in the top K; 0 when the query has relevant items but none in the top K (the
  DeepHash/DSH convention). Left-out queries as for mAP.
* precision@K: relevant items in the top ``min(K, Ndb)`` divided by ``min(K, Ndb)``, averaged
  over all queries. K may exceed the database size.

Queries are processed in blocks so that memory stays bounded whatever the database size:
one block holds its ``[block, Ndb]`` distances and ranking, never the whole ``Nq x Ndb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vrt.codes import CodeSet
from vrt.metrics.hamming import HammingScanner, distance_dtype

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "QueryScores",
    "RetrievalReport",
    "default_block_size",
    "evaluate_retrieval",
    "score_queries",
]

#: Working memory that one block of queries may use when ``block_size`` is None. Larger blocks
#: do not run faster: on a UCF101-sized evaluation, blocks of 4 to 128 queries (2 to 70 MiB)
#: took the same time and 512 queries (280 MiB) twice as long, as fresh large arrays cost page
#: faults and fall out of the cache.
DEFAULT_MEMORY_BUDGET = 32 * 2**20

# Ranking a block holds, per (query, database) pair: the distance, the int64 sort order, the
# gathered label and the relevance flag; then, per relevant pair (all pairs in the worst case),
# its row and column (int64 each) and three float64/int64 temporaries of the precision sum.
_RANKING_BYTES_PER_PAIR = 8 + 4 + 1 + 6 * 8


@dataclass(frozen=True)
class RetrievalReport:
    """Aggregated metrics of one query set against one database.

    ``map`` and ``map_at_k`` are NaN when no query has a relevant item in the database
    (:meth:`to_dict` turns NaN into None so the dictionary stays valid JSON).
    """

    map: float
    map_at_k: float
    precision_at_k: float
    topk: int
    num_queries: int
    num_database: int
    num_queries_without_relevant: int

    def to_dict(self) -> dict[str, float | int | None]:
        """Flat dictionary with the K in the key names (``map@100``), as ``vrt eval --json`` prints."""

        def finite_or_none(value: float) -> float | None:
            return None if np.isnan(value) else float(value)

        return {
            "map": finite_or_none(self.map),
            f"map@{self.topk}": finite_or_none(self.map_at_k),
            f"precision@{self.topk}": float(self.precision_at_k),
            "num_queries": self.num_queries,
            "num_database": self.num_database,
            "num_queries_without_relevant": self.num_queries_without_relevant,
        }


@dataclass(frozen=True, eq=False)
class QueryScores:
    """Per-query values behind a :class:`RetrievalReport`, kept for per-class or per-query analysis.

    ``average_precision`` and ``average_precision_at_k`` are NaN for queries without a relevant
    item in the database (``num_relevant == 0``).
    """

    average_precision: np.ndarray  # float64 [Nq]
    average_precision_at_k: np.ndarray  # float64 [Nq]
    precision_at_k: np.ndarray  # float64 [Nq]
    num_relevant: np.ndarray  # int64 [Nq], relevant items in the whole database
    topk: int
    num_database: int

    @property
    def has_relevant(self) -> np.ndarray:
        return self.num_relevant > 0

    def report(self) -> RetrievalReport:
        """Means over the queries: mAP and mAP@K over queries with a relevant item, P@K over all."""
        valid = self.has_relevant
        num_valid = int(valid.sum())
        # np.mean of a fixed array is deterministic, so results do not depend on the block size.
        mean_ap = float(np.mean(self.average_precision[valid])) if num_valid else float("nan")
        mean_ap_k = float(np.mean(self.average_precision_at_k[valid])) if num_valid else float("nan")
        return RetrievalReport(
            map=mean_ap,
            map_at_k=mean_ap_k,
            precision_at_k=float(np.mean(self.precision_at_k)),
            topk=self.topk,
            num_queries=int(self.num_relevant.shape[0]),
            num_database=self.num_database,
            num_queries_without_relevant=int(valid.shape[0] - num_valid),
        )


def default_block_size(
    num_database: int, *, bits: int = 64, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> int:
    """Queries per block so that one block's working arrays fit in ``memory_budget`` bytes."""
    if num_database <= 0:
        raise ValueError(f"num_database must be positive, got {num_database}")
    # The distance block stays alive through the ranking; the Hamming pass itself needs less
    # (HammingScanner.bytes_per_pair: an XOR word and a count), so the ranking sets the size.
    bytes_per_pair = distance_dtype(bits).itemsize + _RANKING_BYTES_PER_PAIR
    return max(1, memory_budget // (num_database * bytes_per_pair))


def _dense_labels(query: CodeSet, database: CodeSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels renumbered 0..C-1 over the database's classes, in the narrowest dtype.

    Narrow labels make the per-pair gather in the ranking cheaper; query labels absent from the
    database become -1, which matches nothing. Also returns each database class's size.
    """
    classes, database_dense, class_sizes = np.unique(database.labels, return_inverse=True, return_counts=True)
    dtype = np.int16 if classes.shape[0] < np.iinfo(np.int16).max else np.int32
    position = np.searchsorted(classes, query.labels)
    clipped = np.minimum(position, classes.shape[0] - 1)
    query_dense = np.where(classes[clipped] == query.labels, clipped, -1)
    return query_dense.astype(dtype), database_dense.reshape(-1).astype(dtype), class_sizes


def _rank_block(
    distances: np.ndarray, database_labels: np.ndarray, query_labels: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Relevant counts and precision sums over the full ranking and over its first ``depth`` ranks.

    A stable argsort of small unsigned integers is a radix (counting) sort in numpy: one O(Ndb)
    pass per query, and ties stay in database order as the definition requires.
    """
    num_queries = distances.shape[0]
    order = np.argsort(distances, axis=1, kind="stable")
    relevant_sorted = np.take(database_labels, order) == query_labels[:, None]
    del order
    # Only relevant positions contribute, so work on their coordinates rather than on dense
    # cumulative sums: with C classes that is about 1/C of the pairs.
    rows, columns = np.nonzero(relevant_sorted)
    del relevant_sorted
    found = np.bincount(rows, minlength=num_queries)
    first = np.cumsum(found) - found
    # nonzero() is row-major with ascending columns: the n-th hit of a row is its n-th relevant item.
    ordinal = np.arange(1, rows.shape[0] + 1) - np.repeat(first, found)
    precision = ordinal / (columns + 1.0)
    del ordinal
    sum_precision = np.bincount(rows, weights=precision, minlength=num_queries)
    in_top = columns < depth
    top_rows = rows[in_top]
    found_top = np.bincount(top_rows, minlength=num_queries)
    sum_precision_top = np.bincount(top_rows, weights=precision[in_top], minlength=num_queries)
    return found, sum_precision, found_top, sum_precision_top


def _check_int(value: object, *, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def score_queries(
    query: CodeSet, database: CodeSet, *, topk: int = 100, block_size: int | None = None
) -> QueryScores:
    """Per-query AP, AP@K and precision@K of ``query`` against ``database``.

    Args:
        query: codes of the queries.
        database: codes of the ranked collection (same number of bits).
        topk: K of mAP@K and precision@K; may exceed the database size.
        block_size: queries ranked together; None picks it from :data:`DEFAULT_MEMORY_BUDGET`.
            The results do not depend on it.
    """
    if not isinstance(query, CodeSet) or not isinstance(database, CodeSet):
        raise TypeError("query and database must be CodeSet instances (see vrt.codes.load_codes)")
    topk = _check_int(topk, name="topk")
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
    if block_size is None:
        block_size = default_block_size(len(database), bits=database.bits)
    block_size = _check_int(block_size, name="block_size")

    num_queries, num_database = len(query), len(database)
    depth = min(topk, num_database)
    query_labels, database_labels, class_sizes = _dense_labels(query, database)
    num_relevant = np.where(query_labels >= 0, class_sizes[np.maximum(query_labels, 0)], 0).astype(np.int64)

    scanner = HammingScanner(database.codes)
    sum_precision = np.zeros(num_queries)
    found_top = np.zeros(num_queries, dtype=np.int64)
    sum_precision_top = np.zeros(num_queries)
    for start in range(0, num_queries, block_size):
        block = slice(start, min(start + block_size, num_queries))
        distances = scanner.distances(query.codes[block])
        found, sum_precision[block], found_top[block], sum_precision_top[block] = _rank_block(
            distances, database_labels, query_labels[block], depth
        )
        assert np.array_equal(found, num_relevant[block]), "ranking lost relevant items"

    has_relevant = num_relevant > 0
    average_precision = np.full(num_queries, np.nan)
    np.divide(sum_precision, num_relevant, out=average_precision, where=has_relevant)
    average_precision_at_k = np.where(has_relevant, 0.0, np.nan)
    np.divide(sum_precision_top, found_top, out=average_precision_at_k, where=has_relevant & (found_top > 0))
    return QueryScores(
        average_precision=average_precision,
        average_precision_at_k=average_precision_at_k,
        precision_at_k=found_top / depth,
        num_relevant=num_relevant,
        topk=topk,
        num_database=num_database,
    )


def evaluate_retrieval(
    query: CodeSet, database: CodeSet, *, topk: int = 100, block_size: int | None = None
) -> RetrievalReport:
    """mAP, mAP@K and precision@K of ``query`` against ``database`` (see the module docstring)."""
    return score_queries(query, database, topk=topk, block_size=block_size).report()

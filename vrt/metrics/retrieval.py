"""Retrieval metrics over Hamming rankings (numpy only); ``docs/metrics.md`` is the reference.

Each query ranks the whole database by Hamming distance; an item is relevant when it has the
query's label. The headline values are **tie-aware**: the expectation over uniformly random
orders of the items at equal distance (:mod:`vrt.metrics.tie_aware`), so that the order the
database happens to be stored in cannot move them. The same values of the stable ranking (ties
in database order) come alongside, suffixed ``database_order``. Per query:

* AP: the mean of the precision at the rank of every relevant item. Queries without a relevant
  item in the database are left out of every mean of AP (and of recall), and counted.
* AP@K: the mean precision at the relevant ranks within the top ``K' = min(K, Ndb)``, over the
  relevant items found there; 0 when none is (the DeepHash/DSH convention).
* precision@K: relevant items in the top K' over K'; recall@K: over all relevant items.
* the papers' mAP@K (SSVH, BTH, ConMH, S5VH: ``papers_map_at_k_curve``): the sum of the precisions
  at the relevant ranks within the top K divided by K itself, averaged over every query (0 for
  a query with nothing relevant in its top K); ties in database order, K = 1..Ndb.
* precision within Hamming radius r (P@H<=r): relevant items at distance <= r over all items
  at distance <= r, and 0 when no item is that close; recall within r likewise over all
  relevant items. Averaged over all queries (precision) or queries with a relevant item (recall).
  These do not depend on any order.

Unlabelled items (label -1, :data:`vrt.codes.UNLABELLED`): a query must have a class, so
unlabelled queries are refused (:class:`UnlabelledQueryError`) rather than scored against a
guess; unlabelled database items stay in every ranking as items relevant to no query, which can
only lower the figures, and the report warns how many there are.

Queries are ranked in blocks (see :mod:`vrt.metrics.blocks`), so memory stays bounded whatever
the sizes, and the values do not depend on the block size, the engine or the number of threads.
Every evaluation also describes the codes (:mod:`vrt.metrics.code_diagnostics`).

The database-order values need the stable rank of every relevant item, which costs a ranking of
every (query, item) pair; the tie-aware values need only the counts per distance.
``database_order=False`` skips the ranking (:meth:`~vrt.metrics.ranking.BlockRanker.count_levels`):
the tie-aware values, P@H<=r, the PR curve and the diagnostics come out identical, and the
``*_database_order`` values are NaN (``None`` in :meth:`RetrievalReport.to_dict`).
"""

from __future__ import annotations

import numpy as np

from vrt.codes import CodeSet
from vrt.codes.identity import check_lengths
from vrt.errors import VrtError
from vrt.metrics.blocks import (
    Block,
    Engine,
    default_level_block_size,
    default_workers,
    plan_blocks,
    run_in_order,
)
from vrt.metrics.code_diagnostics import code_stats
from vrt.metrics.curves import StepSum, curve_mean, papers_curve
from vrt.metrics.measures import BlockScores, score_block
from vrt.metrics.ranking import BlockCounts, BlockRanker
from vrt.metrics.scores import ClassScore, PRCurve, QueryScores, RetrievalReport
from vrt.metrics.self_exclusion import leave_out, own_positions, tie_aware_by_depth
from vrt.metrics.tie_aware import TieAwareScores, harmonic_numbers

__all__ = [
    "ClassScore",
    "PRCurve",
    "QueryScores",
    "RetrievalReport",
    "UnlabelledQueryError",
    "evaluate_retrieval",
    "score_queries",
]


class UnlabelledQueryError(VrtError, ValueError):
    """Queries without a class (label -1): relevance, and so every metric, needs one."""


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
    # The length rule of the one comparability check; whether one model made both sets is the
    # caller's to check (vrt.inference.evaluation.evaluate does, with check_comparable).
    check_lengths(query.bits, database.bits, first_name="the query codes", second_name="the database codes")
    if len(query) == 0 or len(database) == 0:
        raise ValueError(f"nothing to evaluate: {len(query)} queries, {len(database)} database items")
    unlabelled = len(query) - int(np.count_nonzero(query.labelled))
    if unlabelled:
        raise UnlabelledQueryError(
            f"{unlabelled} of {len(query)} queries are unlabelled (label -1): retrieval metrics need "
            "the class of every query; evaluate labelled queries, or look at the neighbours with `vrt search`"
        )
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
    curve: bool | None = None,
    database_order: bool = True,
    exclude_self: bool = False,
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
        engine: ``sort`` or ``count``, the ranking engine of the database-order values (see
            :mod:`vrt.metrics.ranking`); unused without them.
        chunk_size: database columns the sort engine ranks, or the counts alone count, at once.
        curve: compute ``map_at_k_curve`` and ``papers_map_at_k_curve`` (mAP@K for every K, ties
            in database order, vrt's and the papers' definition); without it, both are empty. None (the default): when ``database_order`` is computed.
        database_order: compute the ``*_database_order`` values, which rank every (query, item)
            pair; False counts items per distance instead, which is all the tie-aware values,
            P@H<=r and the PR curve need (identical values, several times faster), and leaves
            the ``*_database_order`` values NaN.
        exclude_self: leave each query's own item (the database item of its id) out of its
            ranking: a query whose id is in the database ranks the other ``N - 1`` items (so
            its K' is at most ``N - 1``), the others rank all ``N`` (tie-aware values only: it
            needs ``database_order=False``).

    None of ``block_size``, ``workers``, ``engine`` and ``chunk_size`` changes a per-query value.
    """
    _check_sets(query, database)
    if curve is None:
        curve = bool(database_order)
    if curve and not database_order:
        raise ValueError("the mAP@K curve has ties in database order: it needs database_order=True")
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
    own = own_positions(query, database) if exclude_self else None
    if own is not None and database_order:
        raise ValueError("exclude_self gives the tie-aware values only: pass database_order=False")
    # Items each query ranks: one fewer for a query whose own item is left out.
    left_out = np.zeros(num_queries, dtype=np.int64) if own is None else (own >= 0).astype(np.int64)
    ranked = num_database - int(left_out.max(initial=0))
    depths = np.minimum(topk, num_database - left_out)
    depth = int(depths.max(initial=min(topk, num_database)))
    query_dense, database_dense, class_sizes = _dense_labels(query, database)
    num_relevant = np.where(query_dense >= 0, class_sizes[np.maximum(query_dense, 0)], 0).astype(np.int64)
    ranker = BlockRanker(database.codes, database_dense, chunk_size=chunk_size)
    labels = ranker.map_labels(query_dense)
    harmonic = harmonic_numbers(num_database)
    if not database_order:
        within, relevant_within = _count_levels(query, ranker, labels, block_size=block_size, workers=workers)
        if own is not None:
            leave_out(query, database, own, query_dense, within, relevant_within, num_relevant)
        tie_aware = tie_aware_by_depth(within, relevant_within, depths, harmonic=harmonic)
        return _query_scores(
            query,
            database,
            tie_aware,
            within=within,
            relevant_within=relevant_within,
            num_relevant=num_relevant,
            topk=topk,
            radius=radius,
            depth=depths,
            average_precision_database_order=np.full(num_queries, np.nan),
            average_precision_at_k_database_order=np.full(num_queries, np.nan),
            found_at_k_database_order=np.full(num_queries, np.nan),
            map_at_k_curve=np.empty(0),
            papers_map_at_k_curve=np.empty(0),
            database_order=False,
            ranked=ranked,
        )

    blocks = plan_blocks(labels, ranker, engine=engine, block_size=block_size, workers=workers)

    def rank_and_score(block: Block) -> BlockScores:
        codes = query.codes[block.queries]
        if block.counted:
            ranking = ranker.rank_counted(codes, block.label)
        else:
            ranking = ranker.rank_sorted(codes, block.labels, block.sizes)
        return score_block(ranking, num_relevant[block.queries], depth=depth, harmonic=harmonic, steps=curve)

    average_precision = np.empty(num_queries)
    average_precision_at_k = np.empty(num_queries)
    found_at_k = np.empty(num_queries, dtype=np.int64)
    tie_aware = TieAwareScores(np.empty(num_queries), np.empty(num_queries), np.empty(num_queries))
    within = np.empty((num_queries, ranker.levels), dtype=np.int64)
    relevant_within = np.empty((num_queries, ranker.levels), dtype=np.int64)
    step_sum, precision_sum = StepSum(num_database), StepSum(num_database)
    for block, scores in zip(blocks, run_in_order(rank_and_score, blocks, workers=workers), strict=True):
        rows = block.queries
        average_precision[rows] = scores.average_precision
        average_precision_at_k[rows] = scores.average_precision_at_k
        found_at_k[rows] = scores.found_at_k
        tie_aware.average_precision[rows] = scores.tie_aware.average_precision
        tie_aware.average_precision_at_k[rows] = scores.tie_aware.average_precision_at_k
        tie_aware.found_at_k[rows] = scores.tie_aware.found_at_k
        within[rows] = scores.within
        relevant_within[rows] = scores.relevant_within
        if curve:
            step_sum.add(scores.step_ranks, scores.steps)
            precision_sum.add(scores.step_ranks, scores.step_precision)

    num_valid = int(np.count_nonzero(num_relevant))
    return _query_scores(
        query,
        database,
        tie_aware,
        within=within,
        relevant_within=relevant_within,
        num_relevant=num_relevant,
        topk=topk,
        radius=radius,
        depth=depth,
        average_precision_database_order=average_precision,
        average_precision_at_k_database_order=average_precision_at_k,
        found_at_k_database_order=found_at_k,
        map_at_k_curve=curve_mean(step_sum, num_valid) if curve else np.empty(0),
        papers_map_at_k_curve=papers_curve(precision_sum, num_queries) if curve else np.empty(0),
        database_order=True,
    )


def _count_levels(
    query: CodeSet,
    ranker: BlockRanker,
    labels: np.ndarray,
    *,
    block_size: int | None,
    workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``within`` and ``relevant_within`` of every query, without ranking."""
    if block_size is None:
        block_size = default_level_block_size(ranker.num_database, bits=ranker.levels - 1, workers=workers)
    blocks = plan_blocks(labels, ranker, engine="sort", block_size=block_size, workers=workers)

    def count(block: Block) -> BlockCounts:
        return ranker.count_levels(query.codes[block.queries], block.labels, block.sizes)

    num_queries = len(query)
    within = np.empty((num_queries, ranker.levels), dtype=np.int64)
    relevant_within = np.empty((num_queries, ranker.levels), dtype=np.int64)
    for block, counts in zip(blocks, run_in_order(count, blocks, workers=workers), strict=True):
        within[block.queries] = counts.within
        relevant_within[block.queries] = counts.relevant_within
    # The tie-aware values are computed once for all queries from these (a few passes of many
    # rows), not block by block: the same values, with far fewer small numpy calls.
    return within, relevant_within


def _query_scores(
    query: CodeSet,
    database: CodeSet,
    tie_aware: TieAwareScores,
    *,
    within: np.ndarray,
    relevant_within: np.ndarray,
    num_relevant: np.ndarray,
    topk: int,
    radius: int,
    depth: int | np.ndarray,
    average_precision_database_order: np.ndarray,
    average_precision_at_k_database_order: np.ndarray,
    found_at_k_database_order: np.ndarray,
    map_at_k_curve: np.ndarray,
    papers_map_at_k_curve: np.ndarray,
    database_order: bool,
    ranked: int | None = None,
) -> QueryScores:
    num_database = len(database) if ranked is None else ranked
    database_stats = code_stats(database)
    return QueryScores(
        average_precision=tie_aware.average_precision,
        average_precision_database_order=average_precision_database_order,
        average_precision_at_k=tie_aware.average_precision_at_k,
        average_precision_at_k_database_order=average_precision_at_k_database_order,
        precision_at_k=tie_aware.found_at_k / depth,
        precision_at_k_database_order=found_at_k_database_order / depth,
        recall_at_k=_recall(tie_aware.found_at_k, num_relevant),
        recall_at_k_database_order=_recall(found_at_k_database_order, num_relevant),
        num_relevant=num_relevant,
        within=within,
        relevant_within=relevant_within,
        map_at_k_curve=map_at_k_curve,
        papers_map_at_k_curve=papers_map_at_k_curve,
        labels=query.labels,
        class_names=query.class_names if query.class_names is not None else database.class_names,
        topk=topk,
        radius=radius,
        num_database=num_database,
        query_codes=database_stats if query is database else code_stats(query),
        database_codes=database_stats,
        unlabelled_database=len(database) - int(np.count_nonzero(database.labelled)),
        database_order=database_order,
    )


def _recall(found: np.ndarray, num_relevant: np.ndarray) -> np.ndarray:
    recall = np.full(found.shape, np.nan)
    np.divide(found, num_relevant, out=recall, where=num_relevant > 0)
    return recall


def evaluate_retrieval(
    query: CodeSet,
    database: CodeSet,
    *,
    topk: int = 100,
    radius: int = 2,
    block_size: int | None = None,
    workers: int | None = None,
    engine: Engine = "sort",
    database_order: bool = True,
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
        database_order=database_order,
    )
    return scores.report()

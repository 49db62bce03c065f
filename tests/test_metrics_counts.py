"""The counting path (``database_order=False``): tie-aware values from the counts per distance alone.

It ranks nothing, so it is held to the plain reference (tests/metrics_reference.py) and to the
ranking path, whose counts and tie-aware values it must equal bit for bit.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import vrt.metrics.blocks as blocks
import vrt.metrics.ranking as ranking
from vrt.codes import CodeSet
from vrt.metrics import evaluate_retrieval, score_queries
from vrt.metrics.blocks import (
    MEMORY_CAP,
    MIN_LEVEL_BLOCK,
    PAIRS_PER_BLOCK,
    available_memory,
    default_block_size,
    default_level_block_size,
    default_memory_budget,
    default_workers,
    plan_blocks,
    run_in_order,
)
from vrt.metrics.hamming import paired_distances
from vrt.metrics.ranking import BlockRanker, _unsigned_dtype

from .metrics_reference import reference

TIE_AWARE = ("average_precision", "average_precision_at_k", "precision_at_k", "recall_at_k")
DATABASE_ORDER = tuple(f"{name}_database_order" for name in TIE_AWARE)


def tied_codes(n: int, bits: int, labels, *, used_bits: int, seed: int, prefix: str) -> CodeSet:
    """Codes with only ``used_bits`` random bits (the rest 0): few distances, large tie groups."""
    rng = np.random.default_rng(seed)
    unpacked = np.zeros((n, bits), dtype=np.uint8)
    unpacked[:, rng.choice(bits, used_bits, replace=False)] = rng.integers(0, 2, (n, used_bits))
    return CodeSet(
        codes=np.packbits(unpacked, axis=1),
        bits=bits,
        labels=np.asarray(labels),
        ids=np.array([f"{prefix}{i}" for i in range(n)]),
    )


@pytest.fixture(scope="module")
def many_ties() -> tuple[CodeSet, CodeSet]:
    """64-bit codes using 5 bits: 6 distances for 90 items, K often inside a mixed tie group.

    Class 7 of the queries is absent from the database, and 6 database items are unlabelled.
    """
    rng = np.random.default_rng(11)
    database_labels = rng.integers(0, 4, 90)
    database_labels[rng.choice(90, 6, replace=False)] = -1
    query_labels = rng.integers(0, 4, 30)
    query_labels[[4, 20]] = 7
    database = tied_codes(90, 64, database_labels, used_bits=5, seed=1, prefix="d")
    return tied_codes(30, 64, query_labels, used_bits=5, seed=2, prefix="q"), database


@pytest.mark.parametrize("topk", [1, 2, 7, 30, 89, 90, 91, 500])
def test_counting_path_matches_the_reference(many_ties, topk):
    query, database = many_ties
    expected = reference(query, database, topk, radius=2)
    scores = score_queries(query, database, topk=topk, radius=2, block_size=7, database_order=False)
    for values, key in [
        (scores.average_precision, "ap_tie"),
        (scores.average_precision_at_k, "ap_at_k_tie"),
        (scores.precision_at_k, "precision_at_k_tie"),
        (scores.recall_at_k, "recall_at_k_tie"),
        (scores.precision_within(2), "p_radius"),
        (scores.recall_within(2), "r_radius"),
    ]:
        np.testing.assert_allclose(values, expected[key], rtol=0, atol=1e-12, err_msg=key)
    report = scores.report()
    for value, key in [
        (report.map, "map_tie_aware"),
        (report.map_at_k, "map_at_k_tie_aware"),
        (report.precision_at_k, "mean_precision_at_k_tie_aware"),
        (report.recall_at_k, "recall_at_k_tie_aware_mean"),
        (report.precision_at_radius, "precision_at_radius"),
    ]:
        np.testing.assert_allclose(value, expected[key], rtol=0, atol=1e-12, err_msg=key)
    assert report.num_queries_without_relevant == expected["without_relevant"] == 2


def test_the_tie_case_cuts_mixed_groups_at_k(many_ties):
    # Guards the test above: K must fall inside tie groups holding relevant and other items, or
    # the boundary term of the tie-aware top-K values would go untested.
    query, database = many_ties
    scores = score_queries(query, database, topk=7)
    assert np.nanmax(np.abs(scores.precision_at_k - scores.precision_at_k_database_order)) > 0.05
    assert np.nanmax(np.abs(scores.average_precision - scores.average_precision_database_order)) > 0.01


@pytest.mark.parametrize(
    ("block_size", "workers", "chunk_size", "buffer_bytes"),
    [(None, 1, None, None), (1, 2, 7, None), (4, 3, None, 1), (30, 1, 13, 200)],
)
@pytest.mark.parametrize("topk", [3, 45, 120])
def test_counting_path_equals_the_ranking_path_bit_for_bit(
    many_ties, monkeypatch, block_size, workers, chunk_size, buffer_bytes, topk
):
    """Whatever the blocks, threads and rows counted at once (1 byte: one row; 200: two rows)."""
    import vrt.metrics.ranking as ranking

    if buffer_bytes is not None:
        monkeypatch.setattr(ranking, "_COUNT_BUFFER_BYTES", buffer_bytes)
    query, database = many_ties
    ranked = score_queries(query, database, topk=topk, radius=1, block_size=5, curve=False)
    counted = score_queries(
        query,
        database,
        topk=topk,
        radius=1,
        block_size=block_size,
        workers=workers,
        chunk_size=chunk_size,
        database_order=False,
    )
    for name in (*TIE_AWARE, "within", "relevant_within", "num_relevant"):
        np.testing.assert_array_equal(getattr(counted, name), getattr(ranked, name), err_msg=name)
    for name in DATABASE_ORDER:
        assert np.isnan(getattr(counted, name)).all(), name
    assert counted.map_at_k_curve.shape == (0,)
    assert counted.database_order is False and ranked.database_order is True
    np.testing.assert_array_equal(counted.pr_curve().precision, ranked.pr_curve().precision)
    np.testing.assert_array_equal(counted.pr_curve().recall, ranked.pr_curve().recall)
    for mine, theirs in zip(counted.per_class(), ranked.per_class(), strict=True):
        assert mine.average_precision == theirs.average_precision or np.isnan(theirs.average_precision)
        assert np.isnan(mine.average_precision_database_order)
    assert counted.query_codes == ranked.query_codes and counted.database_codes == ranked.database_codes
    assert counted.warnings() == ranked.warnings()


@pytest.mark.parametrize(("bits", "used_bits"), [(8, 3), (24, 24), (512, 40)])
def test_counting_path_at_other_widths(bits, used_bits):
    """8 bits; 24 (no tie-free width: uint8 distances of 3 bytes); 512 (uint16 distances)."""
    rng = np.random.default_rng(bits)
    database = tied_codes(70, bits, rng.integers(0, 3, 70), used_bits=used_bits, seed=5, prefix="d")
    query = tied_codes(15, bits, rng.integers(0, 3, 15), used_bits=used_bits, seed=6, prefix="q")
    for topk in (4, 33, 80):
        ranked = score_queries(query, database, topk=topk, radius=2, block_size=4, curve=False)
        counted = score_queries(query, database, topk=topk, radius=2, block_size=4, database_order=False)
        for name in (*TIE_AWARE, "within", "relevant_within"):
            np.testing.assert_array_equal(getattr(counted, name), getattr(ranked, name), err_msg=(bits, name))


@pytest.mark.parametrize("num_database", [1, 2, 3, 89, 601, 800])
def test_counting_path_with_odd_tiny_and_long_databases(num_database):
    """Odd lengths are padded with a column at distance 0; rows of 16-bit codes (17 distances)
    from 2 * 17**2 = 578 items long are counted two items at a time."""
    rng = np.random.default_rng(num_database)
    database = tied_codes(num_database, 16, rng.integers(0, 2, num_database), used_bits=3, seed=8, prefix="d")
    query = tied_codes(9, 16, rng.integers(0, 2, 9), used_bits=3, seed=9, prefix="q")
    for topk in (1, 2, 50, 700):
        counted = score_queries(query, database, topk=topk, radius=0, database_order=False)
        ranked = score_queries(query, database, topk=topk, radius=0, curve=False)
        for name in (*TIE_AWARE, "within", "relevant_within"):
            np.testing.assert_array_equal(getattr(counted, name), getattr(ranked, name), err_msg=name)
        assert (counted.within[:, -1] == num_database).all()
        if num_database < 100:  # the plain reference is quadratic in the database size
            expected = reference(query, database, topk, radius=0)
            np.testing.assert_allclose(counted.average_precision, expected["ap_tie"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(
                counted.precision_at_k, expected["precision_at_k_tie"], rtol=0, atol=1e-12
            )
            np.testing.assert_allclose(counted.precision_within(0), expected["p_radius"], rtol=0, atol=1e-12)


def test_level_counts_of_rows_of_any_length():
    """One item at a time, or two (rows of 8-bit distances at least twice levels**2 long)."""
    from vrt.metrics.levels import level_counts

    rng = np.random.default_rng(3)
    for width in (1, 2, 7, 64, 2 * 9**2 - 2, 2 * 9**2, 2 * 9**2 + 1, 2 * 65**2, 2 * 249**2):
        for dtype, levels in ((np.uint8, 9), (np.uint8, 65), (np.uint8, 249), (np.uint16, 513)):
            # 17 rows: more than one call's worth of 16-bit keys for 65 levels (15 rows), or 249 (1)
            distances = rng.integers(0, levels, (17 if width <= 2 * 65**2 else 3, width)).astype(dtype)
            distances[0, : min(width, 4)] = levels - 1  # the largest keys, at both ends of a pair
            expected = np.cumsum([np.bincount(row, minlength=levels) for row in distances], axis=1)
            np.testing.assert_array_equal(level_counts(distances, levels), expected, err_msg=(width, levels))


def test_count_levels_equals_the_rankings_counts(many_ties):
    from vrt.metrics.measures import relevant_within

    query, database = many_ties
    classes, dense = np.unique(database.labels, return_inverse=True)  # classes[0] is -1, unlabelled
    ranker = BlockRanker(database.codes, dense.reshape(-1), chunk_size=11)
    labels = [2, 4, ranker.no_match, 1]
    members = [np.flatnonzero(query.labels == classes[label]) if label < len(classes) else np.array([4, 20])
               for label in labels]  # fmt: skip
    rows = np.concatenate(members)
    sizes = [len(m) for m in members]
    counts = ranker.count_levels(query.codes[rows], labels, sizes)
    ranking = ranker.rank_sorted(query.codes[rows], labels, sizes)
    np.testing.assert_array_equal(counts.within, ranking.within)
    np.testing.assert_array_equal(
        counts.relevant_within, relevant_within(ranking.rows, ranking.distances, len(rows), ranker.levels)
    )
    assert (counts.within[:, -1] == len(database)).all()
    with pytest.raises(ValueError, match="do not cover"):
        ranker.count_levels(query.codes[:3], [0, 1], [1, 1])


def test_report_without_database_order_keeps_every_key(many_ties):
    query, database = many_ties
    full = evaluate_retrieval(query, database, topk=10).to_dict()
    report = evaluate_retrieval(query, database, topk=10, database_order=False)
    counted = report.to_dict()
    assert list(counted) == list(full)  # the same keys in the same order
    assert report.database_order is False
    for key, value in counted.items():
        if key.endswith("_database_order"):
            assert value is None and full[key] is not None, key
        else:
            assert value == full[key], key
    json.dumps(counted, allow_nan=False)  # valid JSON: no NaN


def test_curve_follows_database_order_unless_given(many_ties):
    query, database = many_ties
    assert score_queries(query, database).map_at_k_curve.shape == (len(database),)
    assert score_queries(query, database, curve=False).map_at_k_curve.shape == (0,)
    assert score_queries(query, database, database_order=False).map_at_k_curve.shape == (0,)
    with pytest.raises(ValueError, match="database_order"):
        score_queries(query, database, curve=True, database_order=False)


def test_level_blocks_hold_about_the_pairs_per_block_within_the_memory_budget():
    assert default_level_block_size(50_000, memory_budget=1 << 30) == PAIRS_PER_BLOCK // 50_065
    assert default_level_block_size(10**9, memory_budget=1 << 30) == MIN_LEVEL_BLOCK
    # Tiny databases: the per-query counts, 16 bytes per distance, are what the budget bounds.
    small = default_level_block_size(10, bits=4096, workers=4, memory_budget=1 << 24)
    assert small * 4 * 16 * 4097 <= 1 << 24 < (small + 1) * 4 * 16 * 4097
    with pytest.raises(ValueError, match="positive"):
        default_level_block_size(0)


# Edges that mutation testing (make mutation) found untested: the ranking engines, their block
# planning and paired distances.
MIB = 1 << 20


def bit_distances(query: np.ndarray, database: np.ndarray) -> np.ndarray:
    """Hamming distances ``[Nq, Ndb]`` by comparing unpacked bits."""
    return (np.unpackbits(query, axis=1)[:, None, :] != np.unpackbits(database, axis=1)[None, :, :]).sum(
        axis=2
    )


def stable_ranks(distances: np.ndarray, items: np.ndarray) -> np.ndarray:
    """1-based rank of each of ``items`` per query row, ties in database order (brute force)."""
    ranks = np.empty((distances.shape[0], len(items)), dtype=np.int64)
    for row, row_distances in enumerate(distances):
        for k, item in enumerate(items):
            before = (row_distances < row_distances[item]) | (
                (row_distances == row_distances[item]) & (np.arange(len(row_distances)) <= item)
            )
            ranks[row, k] = before.sum()
    return ranks


# -- paired distances ---------------------------------------------------------------------------


def test_paired_distances_count_differing_bits_as_int64():
    rng = np.random.default_rng(0)
    first, second = rng.integers(0, 256, (5, 3), dtype=np.uint8), rng.integers(0, 256, (5, 3), dtype=np.uint8)
    distances = paired_distances(first, second)
    expected = (np.unpackbits(first, axis=1) != np.unpackbits(second, axis=1)).sum(axis=1)
    np.testing.assert_array_equal(distances, expected)
    assert distances.dtype == np.int64  # not numpy's uint64 sum of uint8 counts


def test_paired_distances_errors_name_the_codes_and_the_shapes():
    codes = np.zeros((2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"^codes must be a 2-D uint8 array"):
        paired_distances(codes.astype(np.int64), codes)
    with pytest.raises(ValueError, match=r"^codes must be a 2-D uint8 array"):
        paired_distances(codes, codes.astype(np.int64))
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(3, 3\)"):
        paired_distances(codes, np.zeros((3, 3), dtype=np.uint8))


# -- BlockRanker: labels, chunks, caches ----------------------------------------------------


def test_unsigned_dtype_is_the_smallest_that_holds_the_value():
    for value, dtype in [(255, np.uint8), (256, np.uint16), (65_535, np.uint16), (65_536, np.uint32),
                         (2**32 - 1, np.uint32), (2**32, np.uint64)]:  # fmt: skip
        assert _unsigned_dtype(value) == np.dtype(dtype), value


def test_labels_take_the_smallest_dtype_that_holds_the_no_match_class():
    codes = np.zeros((256, 1), dtype=np.uint8)
    ranker = BlockRanker(codes[:255], np.arange(255))  # no_match is 255: still uint8
    assert ranker.labels.dtype == np.uint8
    assert ranker.map_labels(np.array([-1, 254])).tolist() == [255, 254]
    assert ranker.map_labels(np.array([-1])).dtype == np.uint8
    wider = BlockRanker(codes, np.arange(256))  # no_match is 256
    assert wider.labels.dtype == np.uint16 and wider.map_labels(np.array([-1])).tolist() == [256]


def test_an_empty_database_has_no_classes_and_ranks_nothing():
    ranker = BlockRanker(np.zeros((0, 1), dtype=np.uint8), np.array([], dtype=np.int64))
    assert ranker.num_classes == 0 and ranker.no_match == 0
    assert ranker.map_labels(np.array([-1])).tolist() == [0]
    queries = np.array([[3], [200]], dtype=np.uint8)
    ranked = ranker.rank_sorted(queries, ranker.no_match)
    assert ranked.rows.shape == (0,)
    np.testing.assert_array_equal(ranked.within, np.zeros((2, 9)))
    np.testing.assert_array_equal(ranker.count_levels(queries, ranker.no_match).within, np.zeros((2, 9)))


@pytest.mark.parametrize(
    ("num_database", "chunk_size", "edges"),
    [
        (10, None, [0, 10]),
        (10, 10, [0, 10]),
        (10, 5, [0, 5, 10]),
        (10, 4, [0, 3, 7, 10]),
        (10, 1, list(range(11))),
    ],
)
def test_chunk_size_cuts_the_database_into_the_fewest_even_chunks(num_database, chunk_size, edges):
    """ceil(Ndb / chunk_size) chunks, none wider than chunk_size: the sort engine's working width."""
    ranker = BlockRanker(
        np.zeros((num_database, 1), dtype=np.uint8),
        np.zeros(num_database, dtype=np.int64),
        chunk_size=chunk_size,
    )
    assert ranker.edges.tolist() == edges
    assert ranker.chunk_width == max(np.diff(edges))


def test_count_estimate_covers_the_count_engines_arrays():
    """Per query, rank_counted holds the distances, an int64 key per item and int64 counters
    for (bits + 1) distances x (relevant + 1) segments: the estimate must cover them."""
    labels = np.zeros(20, dtype=np.int64)
    labels[7] = 1  # class 1 has a single item
    ranker = BlockRanker(np.zeros((20, 1), dtype=np.uint8), labels)
    for label, relevant in [(1, 1), (ranker.no_match, 0)]:
        held = 20 * (1 + 8) + 8 * ranker.levels * (relevant + 1)
        assert ranker.count_bytes_per_query(label) >= held, label


def test_mark_cache_fills_up_to_its_byte_bound(monkeypatch):
    """The marks of a class take levels + Ndb bytes; 3.5 marks' worth of bytes keeps 3 classes."""
    num_database, levels = 60, 9
    monkeypatch.setattr(ranking, "_MARK_CACHE_BYTES", 7 * (levels + num_database) // 2)
    rng = np.random.default_rng(1)
    ranker = BlockRanker(rng.integers(0, 256, (num_database, 1), dtype=np.uint8), np.arange(num_database) % 6)
    queries = rng.integers(0, 256, (6, 1), dtype=np.uint8)
    ranker.rank_sorted(queries, list(range(6)), [1] * 6)
    assert len(ranker._marks) == 3
    ranker.rank_sorted(queries, list(range(6)), [1] * 6)  # full: later classes are rebuilt, not kept
    assert len(ranker._marks) == 3


# -- BlockRanker: engines ---------------------------------------------------------------------


def test_count_levels_gives_int64_counts():
    rng = np.random.default_rng(2)
    database = rng.integers(0, 256, (13, 1), dtype=np.uint8)
    labels = rng.integers(0, 2, 13)
    queries = rng.integers(0, 256, (4, 1), dtype=np.uint8)
    counts = BlockRanker(database, labels).count_levels(queries, 1)
    distances = bit_distances(queries, database)
    within = np.stack([(distances <= r).sum(axis=1) for r in range(9)], axis=1)
    relevant = np.stack([((distances <= r) & (labels == 1)).sum(axis=1) for r in range(9)], axis=1)
    np.testing.assert_array_equal(counts.within, within)
    np.testing.assert_array_equal(counts.relevant_within, relevant)
    assert counts.within.dtype == np.int64 and counts.relevant_within.dtype == np.int64


def test_count_engine_ranks_the_only_item_of_a_class():
    rng = np.random.default_rng(3)
    database = rng.integers(0, 256, (15, 1), dtype=np.uint8)
    labels = np.zeros(15, dtype=np.int64)
    labels[9] = 1
    queries = rng.integers(0, 256, (4, 1), dtype=np.uint8)
    ranked = BlockRanker(database, labels).rank_counted(queries, 1)
    distances = bit_distances(queries, database)
    np.testing.assert_array_equal(ranked.rows, np.arange(4))
    np.testing.assert_array_equal(ranked.ranks, stable_ranks(distances, np.array([9]))[:, 0])
    np.testing.assert_array_equal(ranked.distances, distances[:, 9])


def test_one_label_may_come_with_its_size():
    rng = np.random.default_rng(4)
    ranker = BlockRanker(rng.integers(0, 256, (8, 1), dtype=np.uint8), np.arange(8) % 2)
    queries = rng.integers(0, 256, (3, 1), dtype=np.uint8)
    alone = ranker.rank_sorted(queries, 1)
    sized = ranker.rank_sorted(queries, 1, [3])
    np.testing.assert_array_equal(sized.ranks, alone.ranks)
    np.testing.assert_array_equal(sized.within, alone.within)
    for sizes in ([1], [1, 2]):
        with pytest.raises(ValueError, match="do not cover"):
            ranker.rank_sorted(queries, 1, sizes)


# -- memory, workers and block sizes ----------------------------------------------------------


@pytest.mark.skipif(available_memory("/proc/meminfo") is None, reason="no /proc/meminfo MemAvailable")
def test_available_memory_reads_proc_meminfo_by_default():
    assert isinstance(available_memory(), int) and available_memory() > 0


@pytest.mark.parametrize(
    ("available", "budget"),
    [(None, MEMORY_CAP), (400 * MIB + 3, 100 * MIB), (4 * MIB, 16 * MIB), (8 << 30, MEMORY_CAP)],
)
def test_default_memory_budget_is_a_quarter_of_available_memory_from_16_mib_to_the_cap(
    monkeypatch, available, budget
):
    monkeypatch.setattr(blocks, "available_memory", lambda: available)
    assert default_memory_budget() == budget
    assert isinstance(default_memory_budget(), int)


def test_default_workers_is_one_per_usable_core_up_to_8(monkeypatch):
    monkeypatch.setattr(blocks, "usable_cores", lambda: 16)
    assert default_workers() == 8
    monkeypatch.setattr(blocks, "usable_cores", lambda: 3)
    assert default_workers() == 3


def test_default_block_size_defaults_to_64_bits_one_worker_and_the_default_budget(monkeypatch):
    # A row holds the 65 sentinels of 64-bit codes and the database's columns.
    assert default_block_size(1, memory_budget=1 << 30) == PAIRS_PER_BLOCK // (1 + 65)
    # Memory binds: 32 bytes a pair for one worker.
    assert default_block_size(10_000, memory_budget=MIB) == MIB // (32 * 10_065) == 3
    monkeypatch.setattr(blocks, "available_memory", lambda: 64 * MIB)  # a 16 MiB budget
    assert default_block_size(10**6) == 16 * MIB // (32 * (65_536 + 65)) == 7


def test_default_level_block_size_defaults_to_64_bits_and_one_worker():
    assert default_level_block_size(1, memory_budget=1 << 30) == PAIRS_PER_BLOCK // (1 + 65)
    # Memory binds: 16 bytes per distance (within and relevant_within) of one worker's block.
    small = default_level_block_size(10**6, memory_budget=1 << 14)
    assert small == (1 << 14) // (16 * 65) == 15 and isinstance(small, int)
    assert default_level_block_size(10, bits=4096, memory_budget=1) == 1  # never below one query


# -- planning blocks ----------------------------------------------------------------------------


def test_sort_blocks_follow_the_rankers_width_workers_and_budget():
    ranker = BlockRanker(np.zeros((1000, 1), dtype=np.uint8), np.zeros(1000, dtype=np.int64))  # 8-bit
    labels = ranker.map_labels(np.zeros(2600, dtype=np.int64))
    # Rows of 1000 items + 9 sentinels: 2,621,440 pairs make 2,598 of them.
    roomy = plan_blocks(labels, ranker, engine="sort", block_size=None, memory_budget=1 << 30)
    assert [len(block.queries) for block in roomy] == [2598, 2]
    assert all(block.counted is False for block in roomy)
    # 100 kB shared by 2 workers at 32 bytes a pair: one row each.
    tight = plan_blocks(labels[:5], ranker, engine="sort", block_size=None, workers=2, memory_budget=100_000)
    assert [len(block.queries) for block in tight] == [1] * 5


def test_count_blocks_hold_the_budget_over_one_worker():
    """10 bytes a database item and 16 per counter (9 distances x 1,001 segments): 154,144 bytes
    a query, so 1 MiB holds 6 queries of the class of all 1,000 items."""
    ranker = BlockRanker(np.zeros((1000, 1), dtype=np.uint8), np.zeros(1000, dtype=np.int64))
    labels = ranker.map_labels(np.zeros(10, dtype=np.int64))
    planned = plan_blocks(labels, ranker, engine="count", block_size=None, memory_budget=MIB)
    assert [(block.counted, block.sizes, len(block.queries)) for block in planned] == [
        (True, (6,), 6),
        (True, (4,), 4),
    ]


@pytest.mark.parametrize("engine", ["sort", "count"])
def test_blocks_keep_each_class_queries_in_query_order(engine):
    rng = np.random.default_rng(5)
    ranker = BlockRanker(np.zeros((20, 1), dtype=np.uint8), np.arange(20) % 3)
    labels = ranker.map_labels(rng.integers(0, 3, 60))
    for block in plan_blocks(labels, ranker, engine=engine, block_size=50):
        for group in np.split(block.queries, np.cumsum(block.sizes)[:-1]):
            assert (np.diff(group) > 0).all(), block


# -- threads --------------------------------------------------------------------------------------


def counted(count: int, pulled: list[int]):
    """The items 0 .. count - 1, each appended to ``pulled`` when it is taken."""
    for item in range(count):
        pulled.append(item)
        yield item


def test_run_in_order_with_one_worker_maps_lazily_in_the_calling_thread():
    pulled, threads = [], []

    def work(item):
        threads.append(threading.current_thread())
        return item * item

    results = run_in_order(work, counted(5, pulled), workers=1)
    assert next(results) == 0 and pulled == [0]
    assert list(results) == [1, 4, 9, 16]
    assert threads == [threading.current_thread()] * 5


def test_run_in_order_keeps_two_items_per_worker_in_flight_on_named_threads():
    pulled, names = [], []

    def work(item):
        names.append(threading.current_thread().name)
        return -item

    results = run_in_order(work, counted(9, pulled), workers=2)
    assert next(results) == 0 and len(pulled) == 4
    assert list(results) == [-item for item in range(1, 9)]
    assert all(name.startswith("vrt-metrics_") for name in names), names


def test_run_in_order_starts_no_more_threads_than_workers():
    """Items 0 and 1 hold their threads until item 3 is due; item 2, submitted meanwhile, must
    wait for one of them rather than start a third thread."""
    before = set(threading.enumerate())
    started, release = [], threading.Event()

    def items():
        yield from range(3)
        started.append(len(set(threading.enumerate()) - before))
        release.set()
        yield from range(3, 6)

    def work(item):
        if item < 2:
            release.wait(timeout=2)
        return item

    assert list(run_in_order(work, items(), workers=2)) == list(range(6))
    assert started == [2]

"""The counting path (``database_order=False``): tie-aware values from the counts per distance alone.

It ranks nothing, so it is held to the plain reference (tests/metrics_reference.py) and to the
ranking path, whose counts and tie-aware values it must equal bit for bit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vrt.codes import CodeSet
from vrt.metrics import evaluate_retrieval, score_queries
from vrt.metrics.blocks import MIN_LEVEL_BLOCK, PAIRS_PER_BLOCK, default_level_block_size
from vrt.metrics.ranking import BlockRanker

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

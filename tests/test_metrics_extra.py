"""Tie-aware AP, the curves, per-class AP and the invariances of the block engines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vrt.codes import CodeSet
from vrt.metrics import evaluate_retrieval, score_queries
from vrt.metrics.blocks import PAIRS_PER_BLOCK, available_memory, default_block_size
from vrt.metrics.tie_aware import harmonic_numbers

from .metrics_reference import (
    assert_per_query_matches,
    average_precision_over_tie_orders,
    hamming,
    reference,
)


def codeset(codes: np.ndarray, labels, *, prefix: str, bits: int = 8, class_names=None) -> CodeSet:
    return CodeSet(
        codes=np.asarray(codes, dtype=np.uint8).reshape(len(labels), bits // 8),
        bits=bits,
        labels=np.asarray(labels),
        ids=[f"{prefix}{i}" for i in range(len(labels))],
        class_names=class_names,
    )


def few_distinct_codes(n: int, *, seed: int, levels: int = 4) -> np.ndarray:
    """8-bit codes using only the low bits: few distances, large tie groups."""
    return np.random.default_rng(seed).integers(0, levels, size=n)


@pytest.fixture(scope="module")
def tied_case() -> tuple[CodeSet, CodeSet]:
    """16-bit codes with 3 random bits: 4 distances for 90 items, and a class absent from the database."""
    rng = np.random.default_rng(11)
    database = codeset(
        np.stack([rng.integers(0, 8, 90), np.zeros(90)], axis=1), rng.integers(0, 5, 90), prefix="d", bits=16
    )
    query_labels = rng.integers(0, 6, 30)  # class 5 has no database item
    query = codeset(
        np.stack([rng.integers(0, 8, 30), np.zeros(30)], axis=1), query_labels, prefix="q", bits=16
    )
    assert (query_labels == 5).any()
    return query, database


# -- tie-aware AP against every order of the tied items -------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_tie_aware_ap_is_the_mean_over_all_tie_orders(seed):
    rng = np.random.default_rng(seed)
    size = 6 + seed % 2
    database = codeset(few_distinct_codes(size, seed=seed), rng.integers(0, 2, size), prefix="d")
    query = codeset(few_distinct_codes(4, seed=seed + 100), [0, 1, 0, 1], prefix="q")
    scores = score_queries(query, database, topk=3)
    tie_group_sizes = []
    for q, distance in enumerate(hamming(query, database)):
        relevant = [bool(label == query.labels[q]) for label in database.labels]
        tie_group_sizes += list(np.bincount(distance))
        if not any(relevant):
            assert np.isnan(scores.average_precision[q])
            continue
        expected = average_precision_over_tie_orders(distance, relevant)
        assert scores.average_precision[q] == pytest.approx(expected, abs=1e-12)
    assert max(tie_group_sizes) >= 3  # the case does exercise ties


def test_tie_aware_ap_differs_from_stable_ap_only_through_ties():
    database = codeset([0b01, 0b10, 0b01, 0b11], [1, 0, 0, 1], prefix="d")  # distances 1, 1, 1, 2
    query = codeset([0b00], [0], prefix="q")
    scores = score_queries(query, database, topk=4)
    # Stable order: d0 d1 d2 d3 -> relevant at ranks 2, 3: AP = (1/2 + 2/3) / 2.
    assert scores.average_precision_database_order[0] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # Random order of the three tied items: the mean over the 6 orders.
    expected = average_precision_over_tie_orders([1, 1, 1, 2], [False, True, True, False])
    assert scores.average_precision[0] == pytest.approx(expected, abs=1e-15)
    assert not math.isclose(expected, scores.average_precision_database_order[0])


def test_harmonic_numbers_are_correctly_rounded():
    table = harmonic_numbers(3000)
    assert table[0] == 0.0 and table[1] == 1.0 and table[2] == 1.5
    for k in (10, 63, 64, 65, 1000, 3000):
        assert table[k] == pytest.approx(math.fsum(1.0 / j for j in range(1, k + 1)), rel=2e-16)


# -- engines, chunks, blocks and threads change nothing ------------------------------------------


PER_QUERY = (
    "average_precision",
    "average_precision_database_order",
    "average_precision_at_k",
    "average_precision_at_k_database_order",
    "precision_at_k",
    "precision_at_k_database_order",
    "recall_at_k",
    "recall_at_k_database_order",
    "num_relevant",
    "within",
    "relevant_within",
)


def assert_same_scores(first, second, *, exact: bool = True) -> None:
    for name in PER_QUERY:
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)
    # The curve sums per-rank steps across blocks: only its rounding may differ.
    np.testing.assert_allclose(first.map_at_k_curve, second.map_at_k_curve, rtol=0, atol=1e-13)
    if exact:
        assert first.report() == second.report()


def test_count_engine_equals_sort_engine(tied_case):
    query, database = tied_case
    by_sort = score_queries(query, database, topk=20, engine="sort", block_size=7)
    by_count = score_queries(query, database, topk=20, engine="count", block_size=7)
    assert_same_scores(by_sort, by_count)


@pytest.mark.parametrize("chunk_size", [1, 7, 16, 89])
def test_database_chunks_do_not_change_ranks(tied_case, chunk_size):
    query, database = tied_case
    whole = score_queries(query, database, topk=20, engine="sort")
    assert_same_scores(score_queries(query, database, topk=20, engine="sort", chunk_size=chunk_size), whole)


@pytest.mark.parametrize(("block_size", "workers"), [(1, 1), (2, 3), (5, 2), (1000, 1), (None, None)])
@pytest.mark.parametrize("engine", ["sort", "count"])
def test_blocks_and_threads_do_not_change_results(tied_case, block_size, workers, engine):
    query, database = tied_case
    reference_scores = score_queries(query, database, topk=20, engine="sort", block_size=3, workers=1)
    scores = score_queries(query, database, topk=20, engine=engine, block_size=block_size, workers=workers)
    assert_same_scores(scores, reference_scores)


def test_sort_blocks_group_classes_and_count_blocks_respect_memory():
    from vrt.metrics.blocks import plan_blocks
    from vrt.metrics.ranking import BlockRanker

    database_labels = np.repeat(np.arange(3), [1000, 10, 10])
    ranker = BlockRanker(np.zeros((1020, 8), dtype=np.uint8), database_labels)
    labels = ranker.map_labels(np.array([0, 1, 0, 2, 0, 1, -1]))
    blocks = plan_blocks(labels, ranker, engine="sort", block_size=2)
    # Queries grouped by class; consecutive classes share a block up to the block size.
    assert [(block.labels, block.sizes, block.queries.tolist()) for block in blocks] == [
        ((0,), (2,), [0, 2]), ((0,), (1,), [4]), ((1,), (2,), [1, 5]), ((2, 3), (1, 1), [3, 6])
    ]  # fmt: skip
    assert not any(block.counted for block in blocks)
    assert blocks[0].label == 0
    with pytest.raises(ValueError, match="2 classes"):
        _ = blocks[-1].label
    roomy = plan_blocks(labels, ranker, engine="count", block_size=None, memory_budget=1 << 30)
    assert [len(block.queries) for block in roomy] == [3, 2, 1, 1] and all(block.counted for block in roomy)
    assert [block.label for block in roomy] == [0, 1, 2, 3]
    # With 100 kB, two queries fit (sort estimate) and so do two of class 1 (10 items: ~22 kB
    # each), but class 0's 1,000 items need 65 x 1,001 counters (1 MB) per query: one at a time.
    tight = plan_blocks(labels, ranker, engine="count", block_size=None, memory_budget=100_000)
    assert [(block.label, len(block.queries)) for block in tight] == [
        (0, 1),
        (0, 1),
        (0, 1),
        (1, 2),
        (2, 1),
        (3, 1),
    ]


def test_wide_codes_use_16_bit_distances():
    rng = np.random.default_rng(3)
    database = codeset(rng.integers(0, 256, (40, 32)), rng.integers(0, 3, 40), prefix="d", bits=256)
    query = codeset(rng.integers(0, 256, (6, 32)), rng.integers(0, 3, 6), prefix="q", bits=256)
    expected = reference(query, database, 10, radius=120)
    for engine in ("sort", "count"):
        scores = score_queries(query, database, topk=10, radius=120, engine=engine, chunk_size=15)
        assert_per_query_matches(scores, expected, radius=120)


# -- curves and per-class AP -----------------------------------------------------------------


def test_pr_curve_matches_reference_at_every_radius(tied_case):
    query, database = tied_case
    scores = score_queries(query, database, topk=5)
    curve = scores.pr_curve()
    np.testing.assert_array_equal(curve.radius, np.arange(17))
    for radius in range(17):
        expected = reference(query, database, 5, radius=radius)
        assert curve.precision[radius] == pytest.approx(expected["precision_at_radius"], abs=1e-12)
        assert curve.recall[radius] == pytest.approx(np.nanmean(expected["r_radius"]), abs=1e-12)
    assert curve.recall[-1] == 1.0 and curve.retrieving[-1] == 1.0
    assert np.all(np.diff(curve.recall) >= 0) and np.all(np.diff(curve.retrieving) >= 0)
    # P@H<=2 of the report is the curve's precision at radius 2.
    assert scores.report().precision_at_radius == curve.precision[2]


def test_map_at_k_curve_agrees_with_map_at_k_for_every_k(tied_case):
    query, database = tied_case
    curve = score_queries(query, database, topk=1).map_at_k_curve
    assert curve.shape == (len(database),)
    for k in (1, 2, 17, 89, 90):  # the curve has ties in database order
        report = evaluate_retrieval(query, database, topk=k)
        assert curve[k - 1] == pytest.approx(report.map_at_k_database_order, abs=1e-12)
    assert curve[-1] == pytest.approx(
        evaluate_retrieval(query, database, topk=500).map_database_order, abs=1e-12
    )


def test_per_class_ap_is_the_mean_ap_of_each_class_queries(tied_case):
    query, database = tied_case
    names = [f"class{i}" for i in range(6)]
    query = CodeSet(query.codes, query.bits, query.labels, query.ids, class_names=names)
    expected = reference(query, database, 5)
    per_class = score_queries(query, database, topk=5).per_class()
    assert [score.label for score in per_class] == sorted(set(query.labels.tolist()))
    for score in per_class:
        members = query.labels == score.label
        assert score.name == names[score.label] and score.num_queries == int(members.sum())
        if score.label == 5:  # no database item of this class
            assert np.isnan(score.average_precision) and np.isnan(score.average_precision_database_order)
            assert score.num_queries_without_relevant == score.num_queries
        else:
            assert score.average_precision == pytest.approx(np.mean(expected["ap_tie"][members]), abs=1e-12)
            assert score.average_precision_database_order == pytest.approx(
                np.mean(expected["ap"][members]), abs=1e-12
            )
            assert score.num_queries_without_relevant == 0


def test_curve_can_be_skipped(tied_case):
    query, database = tied_case
    assert score_queries(query, database, curve=False).map_at_k_curve.shape == (0,)


# -- block sizes from memory -------------------------------------------------------------------


def test_available_memory_reads_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemAvailable:   2048 kB\n")
    assert available_memory(meminfo) == 2048 * 1024
    assert available_memory(tmp_path / "missing") is None


def test_default_block_size_follows_the_memory_budget():
    roomy = default_block_size(10_000, memory_budget=1 << 30)
    assert roomy == PAIRS_PER_BLOCK // (10_000 + 65)  # speed, not memory, sets it
    assert default_block_size(10_000, memory_budget=1 << 20) < roomy
    assert default_block_size(10_000, memory_budget=1 << 30, workers=10_000) == 1
    assert default_block_size(10**9, memory_budget=1) == 1  # never below one query
    with pytest.raises(ValueError, match="num_database"):
        default_block_size(0)

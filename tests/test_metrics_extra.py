"""Tie-aware AP, the curves, per-class AP and the invariances of the block engines."""

from __future__ import annotations

import math
import weakref

import numpy as np
import pytest

from vrt.codes import CodeSet
from vrt.codes.identity import IncomparableCodesError
from vrt.metrics import evaluate_retrieval, score_queries
from vrt.metrics.blocks import PAIRS_PER_BLOCK, available_memory, default_block_size
from vrt.metrics.curves import StepSum
from vrt.metrics.levels import level_counts
from vrt.metrics.measures import average_precision, average_precision_at_k, map_at_k_steps, score_block
from vrt.metrics.ranking import BlockRanker
from vrt.metrics.retrieval import UnlabelledQueryError
from vrt.metrics.scores import k_label, topk_warnings
from vrt.metrics.tie_aware import harmonic_numbers

from .conftest import exact_message
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


def test_harmonic_numbers_start_exactly():
    # Their accuracy to an ulp is tested in test_metrics_ties.py, against exact fractions.
    table = harmonic_numbers(3000)
    assert table[0] == 0.0 and table[1] == 1.0 and table[2] == 1.5


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


# Edges that mutation testing (make mutation) found untested: defaults, messages, NaN handling,
# dtypes, the curve buffer and the memory budget of the blocks.


def reference_level_counts(distances: np.ndarray, levels: int) -> np.ndarray:
    return np.cumsum([np.bincount(row.astype(np.int64), minlength=levels) for row in distances], axis=1)


# -- measures ---------------------------------------------------------------------------------


def test_average_precision_is_a_float_nan_without_relevant_items():
    # query 0: relevant items at ranks 1 and 2 of which the second is not in the top K'
    rows, precision, num_relevant = np.array([0, 0]), np.array([1.0, 0.5]), np.array([2, 0])
    ap = average_precision(rows, precision, num_relevant)
    assert ap.dtype == np.float64 and ap[0] == 0.75 and np.isnan(ap[1])
    ap_at_k, found = average_precision_at_k(rows, precision, np.array([True, False]), num_relevant)
    assert ap_at_k.dtype == np.float64 and ap_at_k[0] == 1.0 and np.isnan(ap_at_k[1])
    assert found.tolist() == [1, 0]


def test_map_at_k_steps_start_each_query_from_zero():
    # query 0: precisions 1, 2/3 -> AP@K 1 then 5/6; query 1: precision 1/2 -> AP@K 1/2
    steps = map_at_k_steps(
        np.array([0, 0, 1]), np.array([1.0, 2 / 3, 0.5]), np.array([1, 2, 1]), np.array([2, 1])
    )
    np.testing.assert_allclose(steps, [1.0, 5 / 6 - 1.0, 0.5], rtol=0, atol=1e-15)


def one_ranked_query():
    """Query 00000000 of class 0 against items at distances 0, 1, 2 and 8; classes 0, 1, 0, 0."""
    ranker = BlockRanker(np.array([[0x00], [0x01], [0x03], [0xFF]], dtype=np.uint8), np.array([0, 1, 0, 0]))
    return ranker.rank_sorted(np.zeros((1, 1), dtype=np.uint8), 0)


def test_score_block_gives_the_map_at_k_steps_by_default():
    scores = score_block(one_ranked_query(), np.array([3]), depth=4, harmonic=harmonic_numbers(4))
    # relevant ranks 1, 3, 4: precisions 1, 2/3, 3/4; AP@K 1, 5/6, 29/36 from those ranks on
    assert scores.step_ranks.tolist() == [1, 3, 4]
    np.testing.assert_allclose(scores.step_precision, [1.0, 2 / 3, 3 / 4], rtol=0, atol=1e-15)
    np.testing.assert_allclose(scores.steps, [1.0, -1 / 6, -1 / 36], rtol=0, atol=1e-15)


def test_score_block_without_steps_gives_empty_steps():
    scores = score_block(
        one_ranked_query(), np.array([3]), depth=4, harmonic=harmonic_numbers(4), steps=False
    )
    assert scores.step_ranks.shape == scores.steps.shape == scores.step_precision.shape == (0,)
    assert scores.average_precision[0] == pytest.approx(29 / 36)


def test_score_block_refuses_a_ranking_that_lost_relevant_items():
    with pytest.raises(RuntimeError, match=exact_message("internal error: the ranking lost relevant items")):
        score_block(one_ranked_query(), np.array([4]), depth=4, harmonic=harmonic_numbers(4))


# -- level counts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "levels", "width"),
    [
        (np.uint16, 257, 2 * 257**2),  # 256-bit codes, rows long enough for the pair count of 8-bit ones
        (np.uint8, 9, 2 * 9**2 + 3),  # odd (and a multiple of 3): one item at a time
        (np.uint64, 9, 2 * 9**2),  # any unsigned distances
    ],
)
def test_level_counts_of_other_dtypes_and_odd_rows(dtype, levels, width):
    rng = np.random.default_rng(5)
    distances = rng.integers(0, levels, (2, width)).astype(dtype)
    np.testing.assert_array_equal(level_counts(distances, levels), reference_level_counts(distances, levels))


def test_level_counts_of_short_rows_taken_from_a_wider_array():
    wide = np.random.default_rng(6).integers(0, 9, (3, 8)).astype(np.uint8)
    distances = wide[:, ::2]  # 4 items a row, not adjacent in memory
    np.testing.assert_array_equal(level_counts(distances, 9), reference_level_counts(distances, 9))


# -- the curves' accumulator ------------------------------------------------------------------


def test_step_sum_of_nothing_is_zeros_and_can_be_read_twice():
    step_sum = StepSum(3)
    np.testing.assert_array_equal(step_sum.total(), [0.0, 0.0, 0.0])
    step_sum.add(np.array([2]), np.array([0.5]))
    np.testing.assert_array_equal(step_sum.total(), [0.0, 0.5, 0.5])
    np.testing.assert_array_equal(step_sum.total(), [0.0, 0.5, 0.5])


def test_step_sum_adds_the_steps_summed_before_a_flush():
    step_sum = StepSum(4)
    step_sum.add(np.ones(1 << 16, dtype=np.int64), np.full(1 << 16, 0.5))  # enough to be summed at once
    step_sum.add(np.array([2]), np.array([1.0]))
    np.testing.assert_array_equal(step_sum.total(), [32768.0, 32769.0, 32769.0, 32769.0])


def test_step_sum_lets_go_of_the_blocks_it_has_summed():
    step_sum = StepSum(10)
    first = np.ones(1 << 16, dtype=np.int64)
    gone = weakref.ref(first)
    step_sum.add(first, np.ones(1 << 16))
    del first
    for _ in range(3):  # 4 x 65,536 steps in all: a bounded buffer has summed the first block by now
        step_sum.add(np.ones(1 << 16, dtype=np.int64), np.ones(1 << 16))
    assert gone() is None
    assert step_sum.total()[0] == 4 * (1 << 16)


# -- score_queries: defaults and checks -------------------------------------------------------


@pytest.fixture(scope="module")
def hundred_and_one():
    """Query 00000000 of class 0; 100 items within distance 7 (one relevant, at distance 3), the
    101st, relevant, at distance 8."""
    codes = [0x00, 0x07] + [0x7F] * 98 + [0xFF]
    labels = [1, 0] + [1] * 98 + [0]
    return codeset([0x00], [0], prefix="q"), codeset(codes, labels, prefix="d")


def test_score_queries_cuts_rankings_at_100_and_radius_2_by_default(hundred_and_one):
    query, database = hundred_and_one
    scores = score_queries(query, database)
    assert scores.topk == 100 and scores.radius == 2
    assert scores.recall_at_k[0] == 0.5 and scores.recall_at_k_database_order[0] == 0.5
    assert scores.precision_at_k[0] == 0.01


def test_evaluate_retrieval_cuts_rankings_at_100_and_radius_2_by_default(hundred_and_one):
    query, database = hundred_and_one
    report = evaluate_retrieval(query, database)
    assert report.topk == 100 and report.recall_at_k == 0.5
    # within distance 2: only the irrelevant item at distance 0 (within 3 it would be 1 of 2)
    assert report.radius == 2 and report.precision_at_radius == 0.0
    assert report.to_dict()["precision@H<=2"] == 0.0


def test_radius_may_be_the_number_of_bits():
    query, database = codeset([0x00], [0], prefix="q"), codeset([0x00, 0xFF, 0x0F], [0, 1, 1], prefix="d")
    assert score_queries(query, database, radius=8).report().precision_at_radius == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("topk", 0, "topk must be a positive integer, got 0"),
        ("radius", -1, "radius must be an integer >= 0, got -1"),
        ("workers", 0, "workers must be a positive integer, got 0"),
        ("block_size", 0, "block_size must be a positive integer, got 0"),
        ("chunk_size", 0, "chunk_size must be a positive integer, got 0"),
    ],
)
def test_score_queries_names_the_bad_integer_argument(argument, value, message):
    query, database = codeset([0x00], [0], prefix="q"), codeset([0x01], [0], prefix="d")
    with pytest.raises(ValueError, match=exact_message(message)):
        score_queries(query, database, **{argument: value})


def test_score_queries_refuses_what_is_not_a_code_set():
    codes = codeset([0x00], [0], prefix="q")
    message = exact_message("query and database must be CodeSet instances (see vrt.codes.load_codes)")
    for query, database in (
        (codes, np.zeros((1, 1), dtype=np.uint8)),
        (np.zeros((1, 1), dtype=np.uint8), codes),
    ):
        with pytest.raises(TypeError, match=message):
            score_queries(query, database)


def test_score_queries_refusals_say_why():
    query, database = codeset([0x00], [0], prefix="q"), codeset([0x01, 0x02], [0, 1], prefix="d")
    wide = codeset([0x00, 0x00], [0], prefix="w", bits=16)
    with pytest.raises(IncomparableCodesError) as refused:
        score_queries(query, wide)
    assert str(refused.value) == (
        "the query codes hold 8-bit codes but the database codes 16-bit codes; compare codes of one model"
    )
    unlabelled = codeset([0x00, 0x01], [0, -1], prefix="u")
    with pytest.raises(UnlabelledQueryError) as refused:
        score_queries(unlabelled, database)
    assert str(refused.value) == (
        "1 of 2 queries are unlabelled (label -1): retrieval metrics need the class of every query; "
        "evaluate labelled queries, or look at the neighbours with `vrt search`"
    )
    named = codeset([0x00], [0], prefix="n", class_names=["a", "b"])
    renamed = codeset([0x01, 0x02], [0, 1], prefix="m", class_names=["b", "a"])
    with pytest.raises(
        ValueError, match=exact_message("query and database codes were labelled with different class_names")
    ):
        score_queries(named, renamed)
    with pytest.raises(
        ValueError,
        match=exact_message("the mAP@K curve has ties in database order: it needs database_order=True"),
    ):
        score_queries(query, database, curve=True, database_order=False)
    with pytest.raises(
        ValueError,
        match=exact_message("exclude_self gives the tie-aware values only: pass database_order=False"),
    ):
        score_queries(query, database, exclude_self=True)


# -- score_queries: what it returns -----------------------------------------------------------


@pytest.mark.parametrize("database_order", [True, False])
def test_counts_are_integer_arrays(database_order):
    query = codeset([0x00, 0x0F], [0, 1], prefix="q")
    database = codeset([0x01, 0x03, 0xFF], [0, 1, 0], prefix="d")
    scores = score_queries(query, database, database_order=database_order)
    for counts in (scores.num_relevant, scores.within, scores.relevant_within):
        assert counts.dtype == np.int64
    assert scores.num_relevant.tolist() == [2, 1]
    assert scores.within[:, -1].tolist() == [3, 3] and scores.relevant_within[:, -1].tolist() == [2, 1]


def test_curves_are_empty_unless_computed():
    query, database = codeset([0x00], [0], prefix="q"), codeset([0x01, 0x03], [0, 1], prefix="d")
    for scores in (
        score_queries(query, database, curve=False),
        score_queries(query, database, database_order=False),
    ):
        assert scores.map_at_k_curve.shape == scores.papers_map_at_k_curve.shape == (0,)


def test_papers_curve_of_one_query_divides_by_k_alone():
    query, database = codeset([0x00], [0], prefix="q"), codeset([0x00, 0x01], [0, 1], prefix="d")
    # the relevant item first (precision 1): 1 / 1 within the top 1, 1 / 2 within the top 2
    np.testing.assert_array_equal(score_queries(query, database).papers_map_at_k_curve, [1.0, 0.5])


@pytest.mark.filterwarnings("error")
def test_queries_without_relevant_items_give_nan_quietly():
    """NaN where nothing is relevant, without numpy's divide or empty-mean warnings."""
    query = codeset([0x00, 0x0F], [5, 5], prefix="q", class_names=[str(i) for i in range(6)])
    database = codeset([0x01, 0x03, 0xFF], [0, 1, 0], prefix="d")
    for database_order in (True, False):
        scores = score_queries(query, database, database_order=database_order)
        assert np.isnan(scores.recall_at_k).all() and np.isnan(scores.recall_at_k_database_order).all()
        assert np.isnan(scores.recall_within(2)).all()
        report = scores.report()
        assert (
            np.isnan(report.map) and np.isnan(report.recall_at_k) and report.num_queries_without_relevant == 2
        )
        assert np.isnan(scores.pr_curve().recall).all()
        [only] = scores.per_class()
        assert only.name == "5" and np.isnan(only.average_precision)
    curve = score_queries(query, database).map_at_k_curve
    assert curve.dtype == np.float64 and curve.shape == (3,) and np.isnan(curve).all()


@pytest.mark.filterwarnings("error")
def test_recall_within_is_nan_quietly_for_a_query_without_relevant_items():
    query = codeset([0x00, 0x0F], [0, 5], prefix="q")
    database = codeset([0x01, 0x03, 0xFF], [0, 1, 0], prefix="d")
    recall = score_queries(query, database).recall_within(1)
    assert recall[0] == 0.5 and np.isnan(recall[1])


def test_pr_curve_counts_the_queries_retrieving_something_within_each_radius():
    query = codeset([0x00, 0x01], [0, 0], prefix="q")
    database = codeset([0x01, 0x03], [0, 0], prefix="d")  # distances 1, 2 and 0, 1
    np.testing.assert_array_equal(score_queries(query, database).pr_curve().retrieving, [0.5] + [1.0] * 8)


def test_class_names_come_from_the_database_when_the_queries_have_none():
    query = codeset([0x00], [1], prefix="q")
    database = codeset([0x01, 0x03], [0, 1], prefix="d", class_names=["a", "b"])
    scores = score_queries(query, database)
    assert scores.class_names == ["a", "b"] and [score.name for score in scores.per_class()] == ["b"]


def test_unlabelled_database_items_are_warned_about():
    query = codeset([0x00], [0], prefix="q")
    database = codeset([0x01, 0x03, 0x07], [0, -1, 1], prefix="d")
    for database_order in (True, False):
        warnings = score_queries(query, database, database_order=database_order).warnings()
        assert (
            "1 of the 3 database items are unlabelled (label -1): they are ranked but relevant to no "
            "query, which can only lower the figures"
        ) in warnings


# -- the report -------------------------------------------------------------------------------


def test_report_code_stats_describe_the_query_and_the_database():
    query = codeset([0x00, 0x01], [0, 1], prefix="q")
    database = codeset([0x01, 0x03, 0x07], [0, 1, 1], prefix="d")
    code_stats = evaluate_retrieval(query, database).to_dict()["code_stats"]
    assert sorted(code_stats) == ["database", "query"]
    assert code_stats["query"]["size"] == 2 and code_stats["database"]["size"] == 3


def test_k_label_names_the_k_asked_only_when_it_was_not_used():
    assert k_label(100, 100) == "100" and k_label(100, 9) == "9 (K=100 asked)"
    query = codeset([0x00], [0], prefix="q")
    database = codeset(list(range(9)), [0, 1] * 4 + [0], prefix="d")
    assert evaluate_retrieval(query, database, topk=5).k_label == "5"
    assert evaluate_retrieval(query, database).k_label == "9 (K=100 asked)"


def test_k_equal_to_the_database_size_is_not_warned_about():
    assert topk_warnings(9, 9) == []
    assert topk_warnings(10, 9) == [
        "topk 10 exceeds the database size 9: mAP@K, P@K and R@K are computed at K' = 9"
    ]


# -- blocks within the memory budget ----------------------------------------------------------


def record_block_sizes(monkeypatch, budget: int) -> list[list[int]]:
    """Give the evaluation ``budget`` bytes and record the queries of every block it plans."""
    import vrt.metrics.blocks
    import vrt.metrics.retrieval

    monkeypatch.setattr(vrt.metrics.blocks, "default_memory_budget", lambda: budget)
    plan_blocks, sizes = vrt.metrics.retrieval.plan_blocks, []

    def recording(*args, **kwargs):
        blocks = plan_blocks(*args, **kwargs)
        sizes.append([len(block.queries) for block in blocks])
        return blocks

    monkeypatch.setattr(vrt.metrics.retrieval, "plan_blocks", recording)
    return sizes


def test_level_blocks_keep_their_counts_within_the_memory_budget(monkeypatch):
    budget, workers = 1 << 22, 2
    sizes = record_block_sizes(monkeypatch, budget)
    rng = np.random.default_rng(8)
    query = codeset(rng.integers(0, 256, (600, 32)), np.zeros(600, dtype=np.int64), prefix="q", bits=256)
    database = codeset(rng.integers(0, 256, (8, 32)), np.arange(8) % 2, prefix="d", bits=256)
    score_queries(query, database, database_order=False, workers=workers)
    # within and relevant_within: 2 x 8 bytes per distance (257 of them) per query
    [blocks] = sizes
    assert sum(blocks) == 600 and workers * max(blocks) * 16 * 257 <= budget


def test_ranking_blocks_share_the_memory_budget_between_workers(monkeypatch):
    sizes = record_block_sizes(monkeypatch, 1 << 20)
    rng = np.random.default_rng(9)
    query = codeset(rng.integers(0, 256, 400), np.zeros(400, dtype=np.int64), prefix="q")
    database = codeset(rng.integers(0, 256, 100), np.arange(100) % 3, prefix="d")
    one = score_queries(query, database, workers=1)
    two = score_queries(query, database, workers=2)
    np.testing.assert_array_equal(one.average_precision_database_order, two.average_precision_database_order)
    alone, shared = max(sizes[0]), max(sizes[1])
    assert len(sizes[0]) > 1 and 2 * shared <= alone

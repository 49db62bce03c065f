"""Hamming distances and retrieval metrics against plain per-query references."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from vrt.codes import CodeSet, unpack_bits
from vrt.metrics import RetrievalReport, evaluate_retrieval, hamming_distances, score_queries
from vrt.metrics.blocks import default_block_size
from vrt.metrics.hamming import HammingScanner

from .metrics_reference import assert_per_query_matches, reference

# The lookup-table path always runs; np.bitwise_count exists from numpy 2.0.
BACKENDS = [
    False,
    pytest.param(True, marks=pytest.mark.skipif(not hasattr(np, "bitwise_count"), reason="numpy < 2")),
]


def random_codeset(n: int, bits: int, labels: np.ndarray | list[int], *, seed: int, prefix: str) -> CodeSet:
    rng = np.random.default_rng(seed)
    return CodeSet(
        codes=rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8),
        bits=bits,
        labels=np.asarray(labels),
        ids=np.array([f"{prefix}{i}" for i in range(n)]),
    )


# -- Hamming distances ----------------------------------------------------------------------


@pytest.mark.parametrize("use_bitwise_count", BACKENDS)
@pytest.mark.parametrize("num_bytes", [1, 2, 3, 5, 8, 9, 16, 33])
def test_hamming_matches_bit_comparison(num_bytes, use_bitwise_count):
    rng = np.random.default_rng(num_bytes)
    query = rng.integers(0, 256, size=(7, num_bytes), dtype=np.uint8)
    database = rng.integers(0, 256, size=(11, num_bytes), dtype=np.uint8)
    expected = (unpack_bits(query)[:, None, :] != unpack_bits(database)[None, :, :]).sum(axis=2)
    distances = HammingScanner(database, use_bitwise_count=use_bitwise_count).distances(query)
    np.testing.assert_array_equal(distances, expected)
    assert distances.dtype == (np.uint8 if num_bytes * 8 <= 255 else np.uint16)


def test_hamming_extremes_and_shape_errors():
    zeros, ones = np.zeros((1, 8), dtype=np.uint8), np.full((1, 8), 255, dtype=np.uint8)
    assert hamming_distances(zeros, ones)[0, 0] == 64 and hamming_distances(ones, ones)[0, 0] == 0
    with pytest.raises(ValueError, match="bits"):
        hamming_distances(np.zeros((1, 4), dtype=np.uint8), zeros)
    with pytest.raises(ValueError, match="uint8"):
        hamming_distances(zeros.astype(np.int64), zeros)


# -- retrieval metrics against the reference ----------------------------------------------


@pytest.fixture(scope="module")
def tied_case() -> tuple[CodeSet, CodeSet]:
    """8-bit codes: 9 distance values for 60 items, so most ranks are decided by the tie rule."""
    rng = np.random.default_rng(7)
    database = random_codeset(60, 8, rng.integers(0, 4, size=60), seed=1, prefix="db")
    query_labels = rng.integers(0, 4, size=25)
    query_labels[[3, 17]] = 9  # no relevant item in the database
    return random_codeset(25, 8, query_labels, seed=2, prefix="q"), database


@pytest.mark.parametrize(
    ("block_size", "chunk_size", "sort_bytes", "mark_cache_bytes"),
    [(25, None, None, None), (25, 13, 1, 0), (6, 7, 256, 300)],
)
def test_sort_engine_blocks_of_several_classes_match_reference(
    tied_case, monkeypatch, block_size, chunk_size, sort_bytes, mark_cache_bytes
):
    """Blocks holding several classes (one without relevant items), sorted a few rows at a time.

    The class marks are cached for every class, for none, or for the first few (300 bytes).
    """
    import vrt.metrics.ranking as ranking

    if sort_bytes is not None:  # 1 byte: one row per sort; 256 bytes: two rows of 16 columns
        monkeypatch.setattr(ranking, "_SORT_BUFFER_BYTES", sort_bytes)
    if mark_cache_bytes is not None:
        monkeypatch.setattr(ranking, "_MARK_CACHE_BYTES", mark_cache_bytes)
    query, database = tied_case
    expected = reference(query, database, 7, radius=2)
    scores = score_queries(query, database, topk=7, block_size=block_size, chunk_size=chunk_size, workers=2)
    assert_per_query_matches(scores, expected, radius=2)
    np.testing.assert_allclose(scores.map_at_k_curve, expected["map_at_k_curve"], rtol=0, atol=1e-12)


def test_rank_sorted_groups_equal_one_class_blocks(tied_case):
    from vrt.metrics.ranking import BlockRanker

    query, database = tied_case
    classes, dense = np.unique(database.labels, return_inverse=True)
    ranker = BlockRanker(database.codes, dense.reshape(-1), chunk_size=11)
    labels = [0, 2, 3, ranker.no_match]
    members = [np.flatnonzero(query.labels == classes[label]) if label < len(classes) else np.array([3, 17])
               for label in labels]  # fmt: skip
    together = ranker.rank_sorted(query.codes[np.concatenate(members)], labels, [len(m) for m in members])
    offset = 0
    for label, rows in zip(labels, members, strict=True):
        alone = ranker.rank_sorted(query.codes[rows], label)
        mine = (together.rows >= offset) & (together.rows < offset + len(rows))
        np.testing.assert_array_equal(together.rows[mine] - offset, alone.rows)
        np.testing.assert_array_equal(together.ranks[mine], alone.ranks)
        np.testing.assert_array_equal(together.distances[mine], alone.distances)
        np.testing.assert_array_equal(together.within[offset : offset + len(rows)], alone.within)
        offset += len(rows)
    with pytest.raises(ValueError, match="do not cover"):
        ranker.rank_sorted(query.codes[:3], [0, 1], [1, 1])


@pytest.mark.parametrize("engine", ["sort", "count"])
@pytest.mark.parametrize("topk", [1, 7, 60, 100])
def test_metrics_match_reference(tied_case, topk, engine):
    query, database = tied_case
    expected = reference(query, database, topk, radius=2)
    scores = score_queries(query, database, topk=topk, radius=2, block_size=4, engine=engine)
    assert_per_query_matches(scores, expected, radius=2)

    report = scores.report()
    for value, key in [
        (report.map, "map_tie_aware"),
        (report.map_database_order, "map"),
        (report.map_at_k, "map_at_k_tie_aware"),
        (report.map_at_k_database_order, "map_at_k"),
        (report.precision_at_k, "mean_precision_at_k_tie_aware"),
        (report.precision_at_k_database_order, "mean_precision_at_k"),
        (report.recall_at_k, "recall_at_k_tie_aware_mean"),
        (report.recall_at_k_database_order, "recall_at_k_mean"),
        (report.precision_at_radius, "precision_at_radius"),
    ]:
        np.testing.assert_allclose(value, expected[key], rtol=0, atol=1e-12, err_msg=key)
    assert report.num_queries_without_relevant == expected["without_relevant"] == 2
    assert (report.num_queries, report.num_database, report.topk, report.radius) == (25, 60, topk, 2)
    # K > Ndb: the curve (ties in database order) stops at Ndb, where mAP@K is the full mAP.
    np.testing.assert_allclose(scores.map_at_k_curve, expected["map_at_k_curve"], rtol=0, atol=1e-12)
    assert scores.map_at_k_curve[min(topk, 60) - 1] == pytest.approx(
        report.map_at_k_database_order, abs=1e-12
    )
    if topk >= 60:  # the whole ranking: tie-aware mAP@K is the tie-aware mAP
        assert report.map_at_k == pytest.approx(report.map, abs=1e-12)


def test_tie_order_matters_in_the_test_case(tied_case):
    # Guards the test above: if ties did not move the figures it could not catch a wrong tie rule.
    query, database = tied_case
    stable, reversed_ties = reference(query, database, 7), reference(query, database, 7, reverse_ties=True)
    assert abs(stable["map"] - reversed_ties["map"]) > 1e-3
    assert abs(stable["map_at_k"] - reversed_ties["map_at_k"]) > 1e-3
    assert abs(stable["mean_precision_at_k"] - reversed_ties["mean_precision_at_k"]) > 1e-3
    # The tie-aware values do not depend on the tie rule, and K = 7 cuts a tie group here.
    for key in ("map_tie_aware", "map_at_k_tie_aware", "mean_precision_at_k_tie_aware"):
        assert stable[key] == reversed_ties[key]
    assert abs(stable["map_at_k_tie_aware"] - stable["map_at_k"]) > 1e-3


@pytest.mark.parametrize(("bits", "num_database"), [(16, 40), (24, 33), (72, 50)])
def test_metrics_match_reference_at_other_widths(bits, num_database):
    rng = np.random.default_rng(bits)
    database = random_codeset(num_database, bits, rng.integers(0, 3, size=num_database), seed=3, prefix="db")
    query = random_codeset(12, bits, rng.integers(0, 4, size=12), seed=4, prefix="q")
    expected = reference(query, database, 10, radius=bits // 2 - 2)
    report = evaluate_retrieval(query, database, topk=10, radius=bits // 2 - 2, block_size=5)
    np.testing.assert_allclose(
        [
            report.map_database_order,
            report.map_at_k_database_order,
            report.precision_at_k_database_order,
            report.recall_at_k_database_order,
        ],
        [
            expected["map"],
            expected["map_at_k"],
            expected["mean_precision_at_k"],
            expected["recall_at_k_mean"],
        ],
        rtol=0,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        [report.map, report.map_at_k, report.precision_at_k, report.recall_at_k, report.precision_at_radius],
        [
            expected["map_tie_aware"],
            expected["map_at_k_tie_aware"],
            expected["mean_precision_at_k_tie_aware"],
            expected["recall_at_k_tie_aware_mean"],
            expected["precision_at_radius"],
        ],
        rtol=0,
        atol=1e-12,
    )


def test_block_size_does_not_change_results(tied_case):
    query, database = tied_case
    reports = [
        evaluate_retrieval(query, database, topk=10, block_size=size) for size in (1, 3, 25, 1000, None)
    ]
    assert all(report == reports[0] for report in reports)


def test_hand_computed_example():
    # Database (8 bits):  item 0: 00000011 A   item 1: 00000001 B   item 2: 00000000 A   item 3: 00000001 A
    database = CodeSet(
        codes=np.array([[0b11], [0b01], [0b00], [0b01]], dtype=np.uint8),
        bits=8,
        labels=[0, 1, 0, 0],
        ids=["d0", "d1", "d2", "d3"],
    )
    query = CodeSet(
        codes=np.array([[0b00], [0b11], [0b00]], dtype=np.uint8),
        bits=8,
        labels=[0, 1, 2],
        ids=["q0", "q1", "q2"],
    )
    # q0 (A): distances 2,1,0,1 -> ranking d2 d1 d3 d0 (d1 before d3: database order) -> relevance 1 0 1 1
    #         AP = (1/1 + 2/3 + 3/4) / 3 = 29/36; top 2: AP@2 = 1, P@2 = 1/2; top 1: AP@1 = 1, P@1 = 1
    # q1 (B): distances 0,1,2,1 -> ranking d0 d1 d3 d2 -> relevance 0 1 0 0
    #         AP = 1/2; AP@2 = 1/2, P@2 = 1/2; top 1 has no relevant item: AP@1 = 0, P@1 = 0
    # q2 (class 2): no relevant item in the database: left out of mAP, counts 0 in P@K
    at_2 = evaluate_retrieval(query, database, topk=2)
    assert at_2.map_database_order == pytest.approx(47 / 72, abs=1e-15)
    assert at_2.map_at_k_database_order == pytest.approx(0.75, abs=1e-15)
    assert at_2.precision_at_k_database_order == pytest.approx(1 / 3, abs=1e-15)
    assert at_2.num_queries_without_relevant == 1

    # Tie-aware at K = 2: d1 and d3 tie at distance 1 and straddle rank 2; each is at rank 2
    # with chance 1/2. q0: AP@2 = 1 either way (d3 there: precisions 1, 1), expected relevant
    # items in the top 2: 1 + 1/2. q1: d1 at rank 2 (chance 1/2) gives AP@2 = 1/2, else 0.
    assert at_2.map_at_k == pytest.approx((1 + 1 / 4) / 2, abs=1e-15)
    assert at_2.precision_at_k == pytest.approx((1.5 / 2 + 0.5 / 2 + 0) / 3, abs=1e-15)
    assert at_2.recall_at_k == pytest.approx((1.5 / 3 + 0.5 / 1) / 2, abs=1e-15)

    at_1 = evaluate_retrieval(query, database, topk=1)  # no tie at rank 1: both orders agree
    assert (at_1.map_at_k, at_1.precision_at_k) == (pytest.approx(0.5), pytest.approx(1 / 3))
    assert (at_1.map_at_k_database_order, at_1.precision_at_k_database_order) == (0.5, pytest.approx(1 / 3))

    beyond = evaluate_retrieval(query, database, topk=10)  # K > N_db: the whole ranking, P over 4
    assert beyond.map_at_k_database_order == pytest.approx(47 / 72, abs=1e-15)
    assert beyond.map_at_k == pytest.approx(beyond.map, abs=1e-15)
    assert beyond.precision_at_k == pytest.approx((3 / 4 + 1 / 4 + 0) / 3, abs=1e-15)
    assert beyond.warnings[-1] == (
        "topk 10 exceeds the database size 4: mAP@K, P@K and R@K are computed at K' = 4"
    )

    # Within radius 0: q0 retrieves d2 (relevant), q1 d0 (not), q2 d2 (not): P@H<=0 = 1/3.
    # Recall@2 in database order: q0 finds 1 of 3, q1 1 of 1. Tie-aware AP: q0's second relevant
    # item (d3) is at rank 2 or 3, and q1's only one (d1) too.
    tie_aware_q0 = ((1 + 2 / 2 + 3 / 4) + (1 + 2 / 3 + 3 / 4)) / 2 / 3
    tie_aware_q1 = (1 / 2 + 1 / 3) / 2
    report = evaluate_retrieval(query, database, topk=2, radius=0)
    metrics = report.to_dict()
    code_stats, warnings = metrics.pop("code_stats"), metrics.pop("warnings")
    assert metrics == {
        "map": pytest.approx((tie_aware_q0 + tie_aware_q1) / 2, abs=1e-15),
        "map_database_order": at_2.map_database_order,
        "map@2": at_2.map_at_k,
        "map@2_database_order": at_2.map_at_k_database_order,
        "precision@2": at_2.precision_at_k,
        "precision@2_database_order": at_2.precision_at_k_database_order,
        "recall@2": at_2.recall_at_k,
        "recall@2_database_order": pytest.approx((1 / 3 + 1) / 2, abs=1e-15),
        "precision@H<=0": pytest.approx(1 / 3, abs=1e-15),
        "topk": {"asked": 2, "used": 2},
        "num_queries": 3,
        "num_database": 4,
        "num_queries_without_relevant": 1,
    }
    # Database codes 00000011, 00000001, 00000000, 00000001: 3 distinct, the last two bits vary:
    # bit 6 is 1 0 0 0, bit 7 is 1 1 0 1; both are set on d0 only, so their correlation is
    # (1/4 - 1/4 * 3/4) / (1/4 * 3/4) = 1/3.
    assert code_stats["database"] | {"bit_balance": None} == {
        "size": 4, "bits": 8, "unique_codes": 3, "unique_fraction": 0.75, "top_code_share": 0.5,
        "constant_bits": 6, "mean_abs_bit_correlation": pytest.approx(1 / 3, abs=1e-15), "bit_balance": None,
    }  # fmt: skip
    assert code_stats["database"]["bit_balance"] == [0, 0, 0, 0, 0, 0, 0.25, 0.75]
    assert warnings == [  # queries 00000000, 00000011, 00000000: two of three share a code
        "degenerate query codes: 66.7% of the 3 items share one code (more than 50%; 2 distinct codes)",
    ]  # 6 constant bits of 3 or 4 items can be chance: judged from 16 items on


def test_no_query_with_relevant_items_gives_nan_and_json_null():
    database = random_codeset(5, 8, [0] * 5, seed=0, prefix="db")
    report = evaluate_retrieval(random_codeset(3, 8, [1, 2, 3], seed=1, prefix="q"), database, topk=2)
    assert np.isnan(report.map) and np.isnan(report.map_at_k) and report.precision_at_k == 0.0
    assert np.isnan(report.map_database_order) and np.isnan(report.map_at_k_database_order)
    assert np.isnan(report.recall_at_k) and np.isnan(report.recall_at_k_database_order)
    assert report.precision_at_radius == 0.0 and report.precision_at_k_database_order == 0.0
    assert report.num_queries_without_relevant == 3
    decoded = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    for key in ("map", "map@2", "map_database_order", "map@2_database_order", "recall@2"):
        assert decoded[key] is None, key
    assert decoded["recall@2_database_order"] is None


def test_perfect_codes_score_one():
    labels = np.repeat(np.arange(4), 5)
    codes = np.repeat(np.array([[0x00], [0x0F], [0xF0], [0xFF]], dtype=np.uint8), 5, axis=0)
    database = CodeSet(codes=codes, bits=8, labels=labels, ids=[f"d{i}" for i in range(20)])
    report = evaluate_retrieval(database, database, topk=5)
    stable = (
        report.map_database_order,
        report.map_at_k_database_order,
        report.precision_at_k_database_order,
        report.recall_at_k_database_order,
    )
    assert stable == (1.0, 1.0, 1.0, 1.0)
    # Each class's 5 items tie at distance 0 and are all relevant: every order is perfect.
    tie_aware = (report.map, report.map_at_k, report.precision_at_k, report.recall_at_k)
    assert tie_aware == pytest.approx((1.0, 1.0, 1.0, 1.0), abs=1e-15) and report.precision_at_radius == 1.0
    assert report.warnings == ()  # 4 distinct codes of 5 items each, every bit used
    assert isinstance(report, RetrievalReport)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topk": 0}, "topk"),
        ({"topk": True}, "topk"),
        ({"block_size": 0}, "block_size"),
        ({"radius": -1}, "radius"),
        ({"radius": 9}, "radius"),
        ({"workers": 0}, "workers"),
        ({"engine": "quick"}, "engine"),
    ],
)
def test_argument_errors(tied_case, kwargs, message):
    query, database = tied_case
    with pytest.raises(ValueError, match=message):
        evaluate_retrieval(query, database, **kwargs)


def test_incompatible_sets_are_refused():
    database = random_codeset(4, 16, [0, 1, 0, 1], seed=0, prefix="db")
    with pytest.raises(ValueError, match="hold 8-bit codes but the database codes 16-bit codes"):
        evaluate_retrieval(random_codeset(2, 8, [0, 1], seed=1, prefix="q"), database)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_retrieval(random_codeset(0, 16, [], seed=1, prefix="q"), database)
    named = CodeSet(database.codes, 16, database.labels, database.ids, class_names=["a", "b"])
    other = CodeSet(database.codes, 16, database.labels, database.ids, class_names=["b", "a"])
    with pytest.raises(ValueError, match="class_names"):
        evaluate_retrieval(named, other)


def test_default_blocks_bound_memory():
    # 4,000 x 5,000 pairs at once would need about 20M x 8 bytes for the sort's indices alone.
    query = random_codeset(4000, 64, np.arange(4000) % 50, seed=5, prefix="q")
    database = random_codeset(5000, 64, np.arange(5000) % 50, seed=6, prefix="db")
    budget = 16 * 2**20
    block_size = default_block_size(len(database), memory_budget=budget)
    assert block_size < len(query)
    tracemalloc.start()
    try:
        evaluate_retrieval(query, database, block_size=block_size, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < budget


def test_metrics_and_codes_do_not_import_torch():
    code = "import sys, vrt.metrics, vrt.codes; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

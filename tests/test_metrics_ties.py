"""Tie-aware AP, AP@K, P@K and R@K against every arrangement of the tie groups; collapsed codes."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

from vrt.codes import CodeSet
from vrt.metrics import evaluate_retrieval, score_queries, tie_aware_average_precision
from vrt.metrics.tie_aware import harmonic_numbers, tie_aware_scores

from .metrics_reference import expected_top_k, hamming, means_over_tie_orders


def codeset(codes, labels, *, prefix: str) -> CodeSet:
    return CodeSet(
        codes=np.asarray(codes, dtype=np.uint8).reshape(len(labels), 1),
        bits=8,
        labels=np.asarray(labels),
        ids=[f"{prefix}{i}" for i in range(len(labels))],
    )


def tiny_tied_case(seed: int) -> tuple[CodeSet, CodeSet]:
    """8-bit codes using 2 low bits: at most 3 distances, so K often cuts a mixed tie group."""
    rng = np.random.default_rng(seed)
    size = 7 + seed % 3
    database = codeset(rng.integers(0, 4, size), rng.integers(0, 3, size), prefix="d")
    query = codeset(rng.integers(0, 4, 4), [0, 1, 2, 3], prefix="q")  # class 3: no relevant item
    return query, database


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("topk", [1, 2, 3, 5, 8, 20])
def test_tie_aware_values_are_means_over_every_tie_arrangement(seed, topk):
    query, database = tiny_tied_case(seed)
    scores = score_queries(query, database, topk=topk, block_size=2)
    depth = min(topk, len(database))
    for q, distance in enumerate(hamming(query, database)):
        relevant = [bool(label == query.labels[q]) for label in database.labels]
        if not any(relevant):
            assert np.isnan(scores.average_precision[q]) and np.isnan(scores.average_precision_at_k[q])
            assert np.isnan(scores.recall_at_k[q]) and scores.precision_at_k[q] == 0.0
            continue
        expected = means_over_tie_orders(distance, relevant, depth)
        for name in ("average_precision", "average_precision_at_k", "precision_at_k", "recall_at_k"):
            key = name.replace("average_precision", "ap")
            assert getattr(scores, name)[q] == pytest.approx(expected[key], abs=1e-12), (name, q)


def test_the_tiny_cases_cut_mixed_tie_groups_at_k():
    # Guards the test above: K must often fall inside a tie group holding relevant and other items.
    cuts = 0
    for seed in range(5):
        query, database = tiny_tied_case(seed)
        for q, distance in enumerate(hamming(query, database)):
            relevant = np.asarray(database.labels) == query.labels[q]
            order = np.sort(distance)
            for depth in (1, 2, 3, 5):
                group = np.asarray(distance) == order[depth - 1]
                straddles = (np.asarray(distance) < order[depth - 1]).sum() + group.sum() > depth
                cuts += bool(straddles and 0 < relevant[group].sum() < group.sum())
    assert cuts >= 20


@pytest.mark.parametrize("seed", range(4))
def test_the_position_by_position_reference_agrees_with_enumeration(seed):
    rng = np.random.default_rng(seed)
    distance = rng.integers(0, 3, 9).tolist()
    relevant = (rng.random(9) < 0.4).tolist()
    relevant[0] = True
    for depth in range(1, 10):
        expected = means_over_tie_orders(distance, relevant, depth)
        ap_at_k, found = expected_top_k(distance, relevant, depth)
        assert ap_at_k == pytest.approx(expected["ap_at_k"], abs=1e-12)
        assert found / depth == pytest.approx(expected["precision_at_k"], abs=1e-12)


# -- collapsed codes -------------------------------------------------------------------------

# Four classes of two items, stored sorted by class, every code identical: the worked example of
# docs/metrics.md. Database order puts class A's items first, so its query scores AP 1.
SORTED_LABELS = [0, 0, 1, 1, 2, 2, 3, 3]
INTERLEAVED_LABELS = [0, 1, 2, 3, 0, 1, 2, 3]
# Database-order AP per class (relevant ranks): sorted 1-2, 3-4, 5-6, 7-8; interleaved 1-5, 2-6, ...
SORTED_MAP = (Fraction(1) + Fraction(5, 12) + Fraction(4, 15) + Fraction(11, 56)) / 4
INTERLEAVED_MAP = (Fraction(7, 10) + Fraction(5, 12) + Fraction(13, 42) + Fraction(1, 4)) / 4
# Expected AP of a random ranking of 8 items with 2 relevant: (H_8 + (r-1)/(n-1) (n - H_8)) / n.
H8 = sum(Fraction(1, k) for k in range(1, 9))
RANDOM_AP = (H8 + Fraction(1, 7) * (8 - H8)) / 8


@pytest.mark.parametrize(
    ("labels", "database_order_map", "database_order_map_at_3"),
    # AP@3 in database order: sorted, only A (1) and B (1/3) reach the top 3; interleaved,
    # A, B, C at ranks 1, 2, 3 score 1, 1/2, 1/3.
    [
        (SORTED_LABELS, SORTED_MAP, Fraction(4, 3) / 4),
        (INTERLEAVED_LABELS, INTERLEAVED_MAP, Fraction(11, 6) / 4),
    ],
)
def test_identical_codes_score_chance_whatever_the_database_order(
    labels, database_order_map, database_order_map_at_3
):
    database = codeset([0b1010] * 8, labels, prefix="d")
    query = codeset([0b1010] * 4, [0, 1, 2, 3], prefix="q")
    report = evaluate_retrieval(query, database, topk=3)
    assert report.map_database_order == pytest.approx(float(database_order_map), abs=1e-15)
    assert report.map == pytest.approx(float(RANDOM_AP), abs=1e-15)
    assert report.map_at_k_database_order == pytest.approx(float(database_order_map_at_3), abs=1e-15)
    # The figures of the table in docs/metrics.md.
    quoted = (0.4699, 0.4190, 0.4341, 0.3333, 0.4583, 0.4137)
    values = (SORTED_MAP, INTERLEAVED_MAP, RANDOM_AP, Fraction(1, 3), Fraction(11, 24), report.map_at_k)
    assert tuple(round(float(value), 4) for value in values) == quoted
    # Every value at K = 3 (a cut through the one tie group) is the mean over the 28 arrangements.
    expected = means_over_tie_orders([0] * 8, [True, True] + [False] * 6, 3)
    assert report.map_at_k == pytest.approx(expected["ap_at_k"], abs=1e-12)
    assert report.precision_at_k == pytest.approx(expected["precision_at_k"], abs=1e-12)
    assert expected["precision_at_k"] == pytest.approx(1 / 4)  # 3 of 8 places, 2 of them relevant
    assert report.recall_at_k == pytest.approx(expected["recall_at_k"], abs=1e-12)
    assert report.database_codes.unique_codes == 1 and report.database_codes.top_code_share == 1.0
    assert report.warnings[0] == (
        "degenerate query codes: 100.0% of the 4 items share one code (more than 50%; 1 distinct code)"
    )
    assert "degenerate database codes: 100.0% of the 8 items share one code" in report.warnings[1]


def test_boundary_group_with_vanishing_outcomes_stays_exact(monkeypatch):
    """1,040 tied items, half relevant, K in the middle: P(j = 0) = 1 / C(1040, 520) underflows."""
    import vrt.metrics.tie_aware as tie_aware

    in_logs = []
    weights_in_logs = tie_aware._weights_in_logs
    monkeypatch.setattr(
        tie_aware, "_weights_in_logs", lambda *args: in_logs.append(1) or weights_in_logs(*args)
    )
    size = 1040
    database = CodeSet(
        codes=np.zeros((size, 1), dtype=np.uint8), bits=8, labels=np.arange(size) % 2, ids=[f"d{i}" for i in range(size)]
    )  # fmt: skip
    query = codeset([0], [0], prefix="q")
    scores = score_queries(query, database, topk=size // 2, curve=False)
    relevant = [i % 2 == 0 for i in range(size)]
    expected_ap_at_k, found = expected_top_k([0] * size, relevant, size // 2)
    assert scores.average_precision_at_k[0] == pytest.approx(expected_ap_at_k, abs=1e-12)
    assert scores.precision_at_k[0] == pytest.approx(found / (size // 2), abs=1e-15) == 0.5
    assert in_logs == [1]  # the running products overflowed: the weights were redone in logs


def test_values_do_not_depend_on_the_queries_computed_together(monkeypatch):
    """Passes of 3 queries and outcome tables of 8 cells (batches by width) change no bit."""
    import vrt.metrics.tie_aware as tie_aware

    rng = np.random.default_rng(4)
    database = codeset(rng.integers(0, 4, 60), rng.integers(0, 3, 60), prefix="d")
    query = codeset(rng.integers(0, 4, 20), rng.integers(0, 4, 20), prefix="q")
    whole = score_queries(query, database, topk=17, block_size=20)
    monkeypatch.setattr(tie_aware, "_ROWS_PER_PASS", 3)
    monkeypatch.setattr(tie_aware, "_OUTCOME_CELLS", 8)
    for block_size in (1, 7, 20):
        split = score_queries(query, database, topk=17, block_size=block_size)
        for name in ("average_precision", "average_precision_at_k", "precision_at_k", "recall_at_k"):
            np.testing.assert_array_equal(getattr(split, name), getattr(whole, name), err_msg=name)
    assert (whole.precision_at_k != whole.precision_at_k_database_order).any()  # ties cross K here


def test_identical_codes_approach_the_class_frequency():
    """docs/metrics.md: 4 classes of 1,000 identical codes give a tie-aware mAP of 0.2515."""
    database = codeset([7] * 4000, np.arange(4000) % 4, prefix="d")
    report = evaluate_retrieval(codeset([7], [0], prefix="q"), database, topk=100)
    assert round(report.map, 4) == 0.2515


def test_rows_are_batched_by_width_within_the_cell_budget_and_each_once(monkeypatch):
    """How the tie-aware terms are batched: a batch's rows x its widest row stay within the budget
    (a row alone may pass it), a batch takes every row that still fits, every row comes once."""
    import vrt.metrics.tie_aware as tie_aware

    monkeypatch.setattr(tie_aware, "_OUTCOME_CELLS", 100)
    widths = np.array([30, 1, 7, 7, 250, 12, 3, 40, 7, 1])
    batches = [batch.tolist() for batch in tie_aware._rows_by_width(widths)]
    assert sorted(row for batch in batches for row in batch) == list(range(len(widths)))
    ordered = [widths[batch].tolist() for batch in batches]
    assert ordered == [[1, 1, 3, 7, 7, 7, 12], [30, 40], [250]]  # 7 x 12 = 84 fits, 8 x 30 does not
    for batch, following in zip(ordered, [*ordered[1:], None], strict=True):
        assert batch == sorted(batch) and (len(batch) * max(batch) <= 100 or len(batch) == 1)
        if following is not None:  # the next row would not have fitted
            assert (len(batch) + 1) * following[0] > 100


def test_tie_aware_average_precision_from_counts_by_distance_equals_the_mean_over_orders():
    """The public function on its own: per query, the items and the relevant items within each
    distance, cumulative. Query 0: distances 0 0 1 1 1 3, relevant at 0 and one of the 1s;
    query 1: nothing relevant (NaN)."""
    from vrt.metrics import tie_aware_average_precision
    from vrt.metrics.tie_aware import harmonic_numbers

    from .metrics_reference import expected_average_precision

    distances = [0, 0, 1, 1, 1, 3]
    relevant = [True, False, False, True, False, False]
    within = np.array([[2, 5, 5, 6], [0, 3, 6, 6]])
    relevant_within = np.array([[1, 2, 2, 2], [0, 0, 0, 0]])
    values = tie_aware_average_precision(within, relevant_within, harmonic_numbers(6))
    assert values[0] == pytest.approx(expected_average_precision(distances, relevant), abs=1e-12)
    assert np.isnan(values[1])


def test_k_labels_name_the_k_used_and_the_k_asked_when_they_differ():
    from vrt.metrics.scores import k_label

    assert k_label(100, 100) == "100" and k_label(100, 9) == "9 (K=100 asked)"


def test_evaluate_retrieval_asks_for_k_100_and_radius_2_by_default():
    rng = np.random.default_rng(2)
    database = CodeSet.from_bits(
        rng.random((150, 8)) < 0.5, labels=rng.integers(0, 3, 150), ids=[f"d{i}" for i in range(150)]
    )
    query = CodeSet.from_bits(rng.random((4, 8)) < 0.5, labels=[0, 1, 2, 0], ids=[f"q{i}" for i in range(4)])
    report = evaluate_retrieval(query, database).to_dict()
    assert report["topk"] == {"asked": 100, "used": 100} and "precision@H<=2" in report


# Edges that mutation testing (make mutation) found untested: tie-aware metrics.


def exact_harmonic(n: int) -> list[float]:
    """H_0 .. H_n as exact fractions rounded once to float64."""
    total, values = Fraction(0), [0.0]
    for k in range(1, n + 1):
        total += Fraction(1, k)
        values.append(float(total))
    return values


def test_harmonic_numbers_stay_within_an_ulp_past_the_series_switch_whatever_the_length():
    exact = exact_harmonic(300)
    table = harmonic_numbers(300)
    for k, value in enumerate(exact):
        assert abs(table[k] - value) <= np.spacing(value), k
    for n in (63, 64, 65, 66):  # tables ending at and just past the switch to the series (k = 64)
        np.testing.assert_array_equal(harmonic_numbers(n), table[: n + 1], err_msg=str(n))


def test_harmonic_numbers_are_correctly_rounded_at_83_and_93():
    # The series is within an ulp everywhere (previous test) and correctly rounded at most k,
    # these two among them; a coefficient a hair off (1/253 for 1/252) rounds them the other way.
    exact = exact_harmonic(93)
    table = harmonic_numbers(93)
    assert table[83] == exact[83] and table[93] == exact[93]


def cumulative(distance: list[int], relevant: list[bool], levels: int) -> tuple[np.ndarray, np.ndarray]:
    """One query's ``within`` and ``relevant_within`` rows (items at distance <= r)."""
    within = np.cumsum(np.bincount(distance, minlength=levels))
    found = np.cumsum(np.bincount(distance, weights=np.asarray(relevant, dtype=np.float64), minlength=levels))
    return within.astype(np.int64), found.astype(np.int64)


def stacked(queries: list[tuple[list[int], list[bool]]], levels: int) -> tuple[np.ndarray, np.ndarray]:
    rows = [cumulative(distance, relevant, levels) for distance, relevant in queries]
    return np.stack([row[0] for row in rows]), np.stack([row[1] for row in rows])


def test_tie_aware_average_precision_of_several_queries_the_last_without_a_relevant_item():
    """Relevant items at the farthest distance count; rows (3) and distances (4) differ in number."""
    queries = [
        ([0, 0, 1, 1, 1, 3], [True, False, False, True, False, True]),
        ([2, 2, 2, 3, 0, 1], [True, True, False, False, False, True]),
        ([0, 1, 1, 2, 3, 3], [False] * 6),
    ]
    within, relevant_within = stacked(queries, 4)
    values = tie_aware_average_precision(within, relevant_within, harmonic_numbers(6))
    assert values.shape == (3,)
    for q, (distance, relevant) in enumerate(queries[:2]):
        expected = means_over_tie_orders(distance, relevant, len(distance))["ap"]
        assert values[q] == pytest.approx(expected, abs=1e-12), q
    assert np.isnan(values[2])


def random_queries(seed: int, count: int, items: int = 12) -> list[tuple[list[int], list[bool]]]:
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 4, items).tolist(), (rng.random(items) < 0.4).tolist()) for _ in range(count)]


def test_tie_aware_scores_take_the_queries_a_pass_at_a_time_each_once(monkeypatch):
    """The working memory is bounded by taking ``_ROWS_PER_PASS`` queries at a time."""
    import vrt.metrics.tie_aware as tie_aware

    within, relevant_within = stacked(random_queries(3, 8), 4)
    harmonic = harmonic_numbers(12)
    whole = tie_aware_scores(within, relevant_within, depth=5, harmonic=harmonic)
    passes = []
    scores_of_rows = tie_aware._scores_of_rows

    def recorded(rows_within, *args, **kwargs):
        passes.append(rows_within[:, -1].shape[0])
        return scores_of_rows(rows_within, *args, **kwargs)

    monkeypatch.setattr(tie_aware, "_ROWS_PER_PASS", 3)
    monkeypatch.setattr(tie_aware, "_scores_of_rows", recorded)
    split = tie_aware_scores(within, relevant_within, depth=5, harmonic=harmonic)
    assert passes == [3, 3, 2]
    for name in ("average_precision", "average_precision_at_k", "found_at_k"):
        np.testing.assert_array_equal(getattr(split, name), getattr(whole, name), err_msg=name)


def test_outcome_tables_stay_within_the_cell_budget(monkeypatch):
    """Every (query, outcome) table holds at most ``_OUTCOME_CELLS`` cells (a single query may
    pass it), exactly full included, and the values are those of one unbounded table."""
    import vrt.metrics.tie_aware as tie_aware

    # 4 queries whose boundary group has 2 outcomes (1 of 2 tied items in the top 1): 8 cells;
    # 20 queries with 3 outcomes, 1 to 3 of 3 relevant among 5 tied items in the top 3.
    exactly_full = stacked([([0, 0, 1, 1, 1, 2], [True, False, True, False, False, True])] * 4, 3)
    over = stacked([([0] * 5 + [1] * 3, [True] * 3 + [False] * 2 + [True, False, True])] * 20, 3)
    cases = [(exactly_full, 1), (over, 3)]
    harmonic = harmonic_numbers(8)
    unbounded = [tie_aware_scores(*counts, depth=depth, harmonic=harmonic) for counts, depth in cases]
    tables = []
    outcome_ratios = tie_aware._outcome_ratios

    def recorded(group, found):
        tables.append(found.shape)
        return outcome_ratios(group, found)

    monkeypatch.setattr(tie_aware, "_OUTCOME_CELLS", 8)
    monkeypatch.setattr(tie_aware, "_outcome_ratios", recorded)
    for (counts, depth), whole in zip(cases, unbounded, strict=True):
        tables.clear()
        bounded = tie_aware_scores(*counts, depth=depth, harmonic=harmonic)
        assert tables and all(rows * width <= 8 or rows == 1 for rows, width in tables), tables
        assert sum(rows for rows, _ in tables) == counts[0].shape[0]
        for name in ("average_precision", "average_precision_at_k", "found_at_k"):
            np.testing.assert_array_equal(getattr(bounded, name), getattr(whole, name), err_msg=name)
    assert tables == [(2, 3)] * 10  # the 20 queries of 3 outcomes: 2 at a time (3 x 3 > 8)


# Three queries of a database of 7,999 items, K = 400 (3 distances):
# A: every item at distance 0, 7,600 relevant: P(j) of the boundary group spans far more than
#    float64 (about e^1590 from j = 1 to the mode), so its weights are redone in logs;
# C: 200 irrelevant items first, then 3,800 relevant and 200 not at distance 1 (200 places of the
#    top 400): its weights too overflow (about e^800), its outcomes stop at 200 of the table's 400;
# D: nothing relevant.
BIG_WITHIN = np.array([[7999, 7999, 7999], [200, 4200, 7999], [300, 500, 7999]])
BIG_RELEVANT_WITHIN = np.array([[7600, 7600, 7600], [0, 3800, 3800], [0, 0, 0]])


def test_weights_redone_in_logs_are_exact_and_each_query_keeps_its_own_scale(monkeypatch):
    import vrt.metrics.tie_aware as tie_aware

    in_logs = []
    weights_in_logs = tie_aware._weights_in_logs
    monkeypatch.setattr(
        tie_aware, "_weights_in_logs", lambda group, found: in_logs.append(found.shape) or weights_in_logs(group, found)
    )  # fmt: skip
    harmonic = harmonic_numbers(7999)
    together = tie_aware_scores(BIG_WITHIN, BIG_RELEVANT_WITHIN, depth=400, harmonic=harmonic)
    assert in_logs == [(2, 400)]  # A and C, in one table
    distance = [0] * 200 + [1] * 4000 + [2] * 3799
    relevant = [False] * 200 + [True] * 3800 + [False] * 4199
    ap_at_k, found = expected_top_k(distance, relevant, 400)
    assert together.average_precision_at_k[1] == pytest.approx(ap_at_k, abs=1e-12)
    assert together.found_at_k[1] == pytest.approx(found, abs=1e-9)
    for row in (0, 1):
        alone = tie_aware_scores(BIG_WITHIN[[row]], BIG_RELEVANT_WITHIN[[row]], depth=400, harmonic=harmonic)
        assert alone.average_precision_at_k[0] == together.average_precision_at_k[row], row
    assert np.isnan(together.average_precision[2]) and np.isnan(together.average_precision_at_k[2])


def test_tie_aware_scores_raise_no_floating_point_warning():
    """Overflowing products, 0 * inf past a row's last outcome, the logs of 0 and of negative ratios
    there, a query without a relevant item: all handled, none reaches the caller as a warning."""
    harmonic = harmonic_numbers(7999)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = tie_aware_scores(BIG_WITHIN, BIG_RELEVANT_WITHIN, depth=400, harmonic=harmonic)
        values = tie_aware_average_precision(BIG_WITHIN, BIG_RELEVANT_WITHIN, harmonic)
    assert np.isfinite(scores.average_precision_at_k[:2]).all() and np.isnan(values[2])


def test_rows_by_width_never_puts_two_rows_over_the_budget_and_fills_it_exactly(monkeypatch):
    import vrt.metrics.tie_aware as tie_aware

    monkeypatch.setattr(tie_aware, "_OUTCOME_CELLS", 10)
    widths = np.array([30, 5, 12, 5])
    batches = [widths[batch].tolist() for batch in tie_aware._rows_by_width(widths)]
    assert batches == [[5, 5], [12], [30]]  # 2 x 5 = 10 fills the budget; 12 and 30 each alone

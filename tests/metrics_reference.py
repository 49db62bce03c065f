"""The definitions of docs/metrics.md written out one query and one item at a time.

Deliberately naive (Python loops over unpacked bits and sorted lists) so that it shares nothing
with vrt.metrics but the definitions.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from vrt.codes import CodeSet, unpack_bits


def hamming(query: CodeSet, database: CodeSet) -> list[list[int]]:
    query_bits, database_bits = unpack_bits(query.codes), unpack_bits(database.codes)
    return [
        [int(np.count_nonzero(query_bits[q] != database_bits[j])) for j in range(len(database))]
        for q in range(len(query))
    ]


def average_precision_of(relevant: list[bool]) -> float:
    hits, total = 0, 0.0
    for rank, is_relevant in enumerate(relevant, start=1):
        if is_relevant:
            hits += 1
            total += hits / rank
    return total / hits


def expected_average_precision(distance: list[int], relevant: list[bool]) -> float:
    """Tie-aware AP summed position by position: each relevant item of a tie group of n items is
    equally likely at each of its n positions, with on average (p-1)(r-1)/(n-1) relevant items of
    its group before it (no harmonic numbers involved)."""
    total, before, relevant_before = 0.0, 0, 0
    for value in sorted(set(distance)):
        members = [j for j, d in enumerate(distance) if d == value]
        n, r = len(members), sum(relevant[j] for j in members)
        for p in range(1, n + 1):
            others = (p - 1) * (r - 1) / (n - 1) if n > 1 else 0.0
            total += r / n * (relevant_before + 1 + others) / (before + p)
        before += n
        relevant_before += r
    return total / sum(relevant)


def average_precision_at_k_of(relevant: list[bool], depth: int) -> float:
    """AP@K of one ranking: mean precision at the relevant ranks within the top ``depth``; 0 if none."""
    hits, total = 0, 0.0
    for rank, is_relevant in enumerate(relevant[:depth], start=1):
        if is_relevant:
            hits += 1
            total += hits / rank
    return total / hits if hits else 0.0


def tie_arrangements(distance: list[int], relevant: list[bool]) -> list[list[bool]]:
    """The relevance sequence of the ranking for every arrangement of the tie groups.

    Under a uniformly random order of a group of n items with r relevant, each of the C(n, r)
    sets of positions of the relevant items is equally likely, independently across groups: the
    plain mean over this list is the expectation over tie orders.
    """
    per_group = []
    for value in sorted(set(distance)):
        members = [j for j, d in enumerate(distance) if d == value]
        n, r = len(members), sum(relevant[j] for j in members)
        per_group.append(
            [[p in chosen for p in range(n)] for chosen in map(set, itertools.combinations(range(n), r))]
        )
    return [[flag for part in parts for flag in part] for parts in itertools.product(*per_group)]


def means_over_tie_orders(distance: list[int], relevant: list[bool], depth: int) -> dict[str, float]:
    """AP, AP@K, P@K and R@K averaged over every arrangement of the tie groups (tiny cases only)."""
    arrangements = tie_arrangements(distance, relevant)
    num_relevant = sum(relevant)
    values = {
        "ap": [average_precision_of(ranking) for ranking in arrangements],
        "ap_at_k": [average_precision_at_k_of(ranking, depth) for ranking in arrangements],
        "precision_at_k": [sum(ranking[:depth]) / depth for ranking in arrangements],
        "recall_at_k": [sum(ranking[:depth]) / num_relevant for ranking in arrangements],
    }
    return {key: math.fsum(items) / len(arrangements) for key, items in values.items()}


def expected_top_k(distance: list[int], relevant: list[bool], depth: int) -> tuple[float, float]:
    """Tie-aware AP@K and expected relevant items in the top ``depth``, position by position.

    Only the tie group that straddles ``depth`` makes the number j of relevant items found
    random (hypergeometric, from math.comb); given j, each relevant item of the group's first m
    positions is equally likely at each of them, and the expected precision at position p sums
    as in expected_average_precision. No harmonic numbers, no recursion.
    """
    inside, before, relevant_before = 0.0, 0, 0
    for value in sorted(set(distance)):
        members = [j for j, d in enumerate(distance) if d == value]
        n, r = len(members), sum(relevant[j] for j in members)
        if before + n < depth:
            for p in range(1, n + 1):
                others = (p - 1) * (r - 1) / (n - 1) if n > 1 else 0.0
                inside += r / n * (relevant_before + 1 + others) / (before + p)
            before += n
            relevant_before += r
            continue
        m = depth - before
        expected_ap = 0.0
        for found in range(0, min(m, r) + 1):
            chance = math.comb(r, found) * math.comb(n - r, m - found) / math.comb(n, m)
            if not chance or relevant_before + found == 0:
                continue
            boundary = 0.0
            for p in range(1, m + 1):
                others = (p - 1) * (found - 1) / (m - 1) if m > 1 else 0.0
                boundary += found / m * (relevant_before + 1 + others) / (before + p)
            expected_ap += chance * (inside + boundary) / (relevant_before + found)
        return expected_ap, relevant_before + m * r / n
    raise AssertionError("depth beyond the database")


def average_precision_over_tie_orders(distance: list[int], relevant: list[bool]) -> float:
    """The mean AP over every order of the items within each tie group (tiny cases only)."""
    groups = [[j for j, d in enumerate(distance) if d == value] for value in sorted(set(distance))]
    values = [
        average_precision_of([relevant[j] for group in orders for j in group])
        for orders in itertools.product(*(itertools.permutations(group) for group in groups))
    ]
    return sum(values) / len(values)


def reference(
    query: CodeSet, database: CodeSet, topk: int, *, radius: int = 2, reverse_ties: bool = False
) -> dict:
    num_database = len(database)
    depth = min(topk, num_database)
    rows: dict[str, list[float]] = {
        key: []
        for key in (
            "ap",
            "ap_tie",
            "ap_at_k",
            "ap_at_k_tie",
            "precision_at_k",
            "precision_at_k_tie",
            "recall_at_k",
            "recall_at_k_tie",
            "p_radius",
            "r_radius",
        )
    }
    curves = []
    for q, distance in enumerate(hamming(query, database)):
        tie_key = (lambda j: -j) if reverse_ties else (lambda j: j)
        ranking = sorted(range(num_database), key=lambda j: (distance[j], tie_key(j)))
        is_relevant = [bool(database.labels[j] == query.labels[q]) for j in range(num_database)]
        relevant = [is_relevant[j] for j in ranking]
        num_relevant = sum(relevant)
        rows["precision_at_k"].append(sum(relevant[:depth]) / depth)
        ap_at_k_tie, found_tie = expected_top_k(distance, is_relevant, depth)
        rows["precision_at_k_tie"].append(found_tie / depth)
        retrieved = [j for j in range(num_database) if distance[j] <= radius]
        found = sum(is_relevant[j] for j in retrieved)
        rows["p_radius"].append(found / len(retrieved) if retrieved else 0.0)
        if not num_relevant:
            for key in (
                "ap",
                "ap_tie",
                "ap_at_k",
                "ap_at_k_tie",
                "recall_at_k",
                "recall_at_k_tie",
                "r_radius",
            ):
                rows[key].append(np.nan)
            continue
        rows["r_radius"].append(found / num_relevant)
        rows["ap"].append(average_precision_of(relevant))
        rows["ap_tie"].append(expected_average_precision(distance, is_relevant))
        precisions = [
            (rank, sum(relevant[:rank]) / rank) for rank in range(1, num_database + 1) if relevant[rank - 1]
        ]
        curve = []
        for k in range(1, num_database + 1):
            top = [p for rank, p in precisions if rank <= k]
            curve.append(sum(top) / len(top) if top else 0.0)
        curves.append(curve)
        rows["ap_at_k"].append(curve[depth - 1])
        rows["recall_at_k"].append(sum(relevant[:depth]) / num_relevant)
        rows["ap_at_k_tie"].append(ap_at_k_tie)
        rows["recall_at_k_tie"].append(found_tie / num_relevant)
    arrays = {key: np.array(values) for key, values in rows.items()}
    valid = ~np.isnan(arrays["ap"])

    def mean_valid(key: str) -> float:
        return float(np.mean(arrays[key][valid])) if valid.any() else float("nan")

    return {
        **arrays,
        "map": mean_valid("ap"),
        "map_tie_aware": mean_valid("ap_tie"),
        "map_at_k": mean_valid("ap_at_k"),
        "map_at_k_tie_aware": mean_valid("ap_at_k_tie"),
        "recall_at_k_mean": mean_valid("recall_at_k"),
        "recall_at_k_tie_aware_mean": mean_valid("recall_at_k_tie"),
        "mean_precision_at_k": float(np.mean(arrays["precision_at_k"])),
        "mean_precision_at_k_tie_aware": float(np.mean(arrays["precision_at_k_tie"])),
        "precision_at_radius": float(np.mean(arrays["p_radius"])),
        "map_at_k_curve": np.mean(curves, axis=0) if curves else None,
        "without_relevant": int((~valid).sum()),
    }


def assert_per_query_matches(scores, expected: dict, *, radius: int) -> None:
    """Every per-query value of ``scores`` (a ``QueryScores``) equals the brute force ``expected``."""
    for values, key in [
        (scores.average_precision_database_order, "ap"),
        (scores.average_precision, "ap_tie"),
        (scores.average_precision_at_k_database_order, "ap_at_k"),
        (scores.average_precision_at_k, "ap_at_k_tie"),
        (scores.precision_at_k_database_order, "precision_at_k"),
        (scores.precision_at_k, "precision_at_k_tie"),
        (scores.recall_at_k_database_order, "recall_at_k"),
        (scores.recall_at_k, "recall_at_k_tie"),
        (scores.precision_within(radius), "p_radius"),
        (scores.recall_within(radius), "r_radius"),
    ]:
        np.testing.assert_allclose(values, expected[key], rtol=0, atol=1e-12, err_msg=key)

"""The metric definitions by name, recorded with every evaluation (``metrics.json``).

``docs/metrics.md`` states them in full; these one-liners travel with the numbers so that a
figure read years later still says what it measured. Bump :data:`METRIC_DEFINITIONS_VERSION`
whenever a definition changes.
"""

from __future__ import annotations

__all__ = ["METRIC_DEFINITIONS", "METRIC_DEFINITIONS_VERSION"]

#: 1: mAP, mAP@K, precision@K (foundation). 2: adds tie-aware mAP, recall@K, P@H<=r, the PR
#: curve over Hamming radii, per-class AP and the mAP@K curve; version 1 definitions unchanged.
#: 3: map, map@K, precision@K, recall@K and per-class AP become tie-aware (expected over random
#: orders of equally distant items); the version 2 values, ties in database order, move to
#: *_database_order; map_tie_aware goes (it equals map); code_stats and warnings come.
#: 4: adds map@K_papers (the self-supervised video hashing papers' mAP@K) and source relevance
#: (metrics.source); version 3 definitions unchanged.
METRIC_DEFINITIONS_VERSION = "4"

METRIC_DEFINITIONS: dict[str, str] = {
    "ranking": "the whole database by Hamming distance to the query; the items at one distance (a tie "
    "group) have no order of their own",
    "tie_aware": "values without a suffix are expectations over uniformly random orders of the items "
    "within every tie group (McSherry & Najork 2008, closed form); *_database_order values rank ties in "
    "database order (a stable sort), which the order the database happens to be stored in can flatter",
    "relevance": "a database item is relevant to a query when both have the same class label",
    "map": "mean over queries with a relevant item of the expected AP, AP being the mean of precision@r "
    "over the ranks r of all relevant items",
    "map@K": "mean over the same queries of the expected AP@K, AP@K being the mean of precision@r over "
    "the ranks r <= K' = min(K, Ndb) of the relevant items found there, 0 when none is; only the tie "
    "group straddling K' is random (hypergeometric number of its relevant items inside)",
    "precision@K": "mean over all queries of the expected relevant share of the top K'",
    "recall@K": "mean over queries with a relevant item of the expected share of their relevant items "
    "in the top K'",
    "*_database_order": "the same value with ties in database order",
    "precision@H<=r": "mean over all queries of the relevant share of the items within Hamming "
    "distance r; 0 for a query with no item that close (no order involved)",
    "pr_curve": "for r = 0..bits: precision@H<=r (all queries) and the share of relevant items within "
    "distance r (mean over queries with a relevant item)",
    "per_class_ap": "for each query class, the mean expected AP (ap) and database-order AP "
    "(ap_database_order) of its queries that have a relevant item",
    "map_at_k_curve": "map@K_database_order for K = 1..Ndb (ties in database order)",
    "map@K_papers": "the mAP@K of the self-supervised video hashing papers (SSVH, BTH, ConMH, S5VH) for "
    "K in 5, 20, 40, 60, 80, 100: the sum of precision@r over the relevant ranks r <= K divided by K "
    "(not by the relevant items found), averaged over every query; ties in database order; only when "
    "the database order is computed",
    "source": "the same values with source relevance: a database item is relevant to a query when both "
    "were cut from the same source video (its group: a #t= window's video, a dataset's recording); "
    "the database is the database and the queries together, each query's own item left out; "
    "tie-aware only",
    "num_queries_without_relevant": "queries of a class absent from the database: left out of the "
    "AP and recall means, counted as 0 in the precision means",
    "code_stats": "per set (query, database): size, bits, unique_codes, unique_fraction (distinct codes "
    "over items), top_code_share (items holding the most frequent code), bit_balance (share of items "
    "with each bit set), constant_bits (bits equal on every item), mean_abs_bit_correlation (mean "
    "|Pearson correlation| over pairs of non-constant bits; null below two)",
    "warnings": "degenerate codes (more than half of the items share one code, in sets of two items or "
    "more; any bit that never changes, in sets of 16 items or more) and K beyond the database size",
}

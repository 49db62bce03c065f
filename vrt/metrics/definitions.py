"""The metric definitions by name, recorded with every evaluation (``metrics.json``).

``docs/metrics.md`` states them in full; these one-liners travel with the numbers so that a
figure read years later still says what it measured. Bump :data:`METRIC_DEFINITIONS_VERSION`
whenever a definition changes.
"""

from __future__ import annotations

__all__ = ["METRIC_DEFINITIONS", "METRIC_DEFINITIONS_VERSION"]

#: 1: mAP, mAP@K, precision@K (foundation). 2: adds tie-aware mAP, recall@K, P@H<=r, the PR
#: curve over Hamming radii, per-class AP and the mAP@K curve; version 1 definitions unchanged.
METRIC_DEFINITIONS_VERSION = "2"

METRIC_DEFINITIONS: dict[str, str] = {
    "ranking": "the whole database by Hamming distance to the query, ties in database order (stable)",
    "relevance": "a database item is relevant to a query when both have the same class label",
    "map": "mean over queries with a relevant item of AP, the mean of precision@r over the ranks r "
    "of all relevant items",
    "map_tie_aware": "mean over the same queries of the expected AP when the items at each Hamming "
    "distance come in uniformly random order (McSherry & Najork 2008, closed form)",
    "map@K": "mean over the same queries of AP@K, the mean of precision@r over the ranks r <= min(K, Ndb) "
    "of the relevant items found there; 0 when none is",
    "precision@K": "mean over all queries of the relevant share of the top min(K, Ndb)",
    "recall@K": "mean over queries with a relevant item of the share of their relevant items in the "
    "top min(K, Ndb)",
    "precision@H<=r": "mean over all queries of the relevant share of the items within Hamming "
    "distance r; 0 for a query with no item that close",
    "pr_curve": "for r = 0..bits: precision@H<=r (all queries) and the share of relevant items within "
    "distance r (mean over queries with a relevant item)",
    "per_class_ap": "for each query class, the mean AP of its queries that have a relevant item",
    "map_at_k_curve": "map@K for K = 1..Ndb",
    "num_queries_without_relevant": "queries of a class absent from the database: left out of the "
    "AP and recall means, counted as 0 in the precision means",
}

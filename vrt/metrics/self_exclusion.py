"""Leaving each query's own item out of its ranking (``score_queries(exclude_self=True)``).

A query that is also a database item (the same id) would find itself first, at distance 0; the
counts of the tie-aware values are corrected for it instead of ranking again: the item is taken
out of the query's counts at and beyond its distance, and out of its relevant counts when it is
relevant. Such a query ranks ``N - 1`` items, so its K' is at most ``N - 1`` while the other
queries' is at most ``N``.
"""

from __future__ import annotations

import numpy as np

from vrt.codes import CodeSet
from vrt.codes.idhash import IdLookup
from vrt.metrics.hamming import paired_distances
from vrt.metrics.tie_aware import TieAwareScores, tie_aware_scores

__all__ = ["leave_out", "own_positions", "tie_aware_by_depth"]


def own_positions(query: CodeSet, database: CodeSet) -> np.ndarray:
    """The database position of each query's id, -1 for a query whose id is not there."""
    lookup = IdLookup(database.ids)
    positions = (lookup.position(item_id) for item_id in query.ids.tolist())
    return np.asarray([-1 if position is None else position for position in positions], dtype=np.int64)


def tie_aware_by_depth(
    within: np.ndarray, relevant_within: np.ndarray, depths: np.ndarray, *, harmonic: np.ndarray
) -> TieAwareScores:
    """:func:`tie_aware_scores` of each query at its own K' (two values at most: with and
    without its own item left out)."""
    values = np.unique(depths)
    if len(values) == 1:
        return tie_aware_scores(within, relevant_within, depth=int(values[0]), harmonic=harmonic)
    scores = TieAwareScores(*(np.empty(len(depths)) for _ in range(3)))
    for value in values:
        rows = np.flatnonzero(depths == value)
        part = tie_aware_scores(within[rows], relevant_within[rows], depth=int(value), harmonic=harmonic)
        for name in ("average_precision", "average_precision_at_k", "found_at_k"):
            getattr(scores, name)[rows] = getattr(part, name)
    return scores


def leave_out(
    query: CodeSet,
    database: CodeSet,
    own: np.ndarray,
    query_dense: np.ndarray,
    within: np.ndarray,
    relevant_within: np.ndarray,
    num_relevant: np.ndarray,
) -> None:
    """Take each query's own item (``own`` >= 0) out of its counts (in place): from every distance
    at and beyond the item's, and from the relevant counts when the item is relevant to it."""
    rows = np.flatnonzero(own >= 0)
    items = own[rows]
    distance = paired_distances(query.codes[rows], database.codes[items])
    beyond = np.arange(within.shape[1])[None, :] >= distance[:, None]
    within[rows] -= beyond
    relevant = (
        (query_dense[rows] >= 0) & (database.labels[items] == query.labels[rows]) & database.labelled[items]
    )
    relevant_within[rows] -= beyond & relevant[:, None]
    num_relevant[rows] -= relevant.astype(np.int64)

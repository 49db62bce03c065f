"""Exact top-K by Hamming distance with ties in database order, in numpy (no faiss, no torch).

This is the reference ranking that every exact index kind must reproduce, and the fallback of
the ``flat`` kind when faiss's counting search would need too much memory (very large K). It
is also what the retrieval page ranks with, so that the page does not need faiss.
"""

from __future__ import annotations

import numpy as np

from vrt.metrics.hamming import HammingScanner

__all__ = ["DEFAULT_TOPK_MEMORY", "exact_topk"]

#: Working memory of one block of queries in :func:`exact_topk`.
DEFAULT_TOPK_MEMORY = 64 * 2**20


def exact_topk(
    query_codes: np.ndarray,
    database_codes: np.ndarray,
    topk: int,
    *,
    memory_budget: int = DEFAULT_TOPK_MEMORY,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``min(topk, Ndb)`` nearest database codes of each query, ties broken by database position.

    Args:
        query_codes, database_codes: packed codes uint8 ``[Nq, B]`` and ``[Ndb, B]``.
        topk: how many results per query (at least 1; clipped to the database size).
        memory_budget: bytes of working memory per block of queries; the full ``Nq x Ndb``
            distance matrix is never held unless it fits.

    Returns:
        ``(distances int32 [Nq, k], positions int64 [Nq, k])``, nearest first.
    """
    if topk < 1:
        raise ValueError(f"topk must be at least 1, got {topk}")
    num_queries, num_database = len(query_codes), len(database_codes)
    k = min(topk, num_database)
    distances = np.empty((num_queries, k), dtype=np.int32)
    positions = np.empty((num_queries, k), dtype=np.int64)
    if k == 0 or num_queries == 0:
        return distances, positions
    scanner = HammingScanner(database_codes)
    # Per (query, database) pair: the distance computation's buffers plus the int64 sort order.
    per_query = num_database * (scanner.bytes_per_pair() + 8)
    block = max(1, memory_budget // per_query)
    for start in range(0, num_queries, block):
        stop = min(start + block, num_queries)
        block_distances = scanner.distances(query_codes[start:stop])
        # A stable sort of small unsigned integers is a radix sort in numpy: linear in Ndb, and
        # it keeps equal distances in database order, which is the definition we need.
        order = np.argsort(block_distances, axis=1, kind="stable")[:, :k]
        positions[start:stop] = order
        distances[start:stop] = np.take_along_axis(block_distances, order, axis=1)
    return distances, positions

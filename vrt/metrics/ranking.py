"""Rank blocks of queries: the stable rank of every relevant item and the counts per distance.

Every metric in :mod:`vrt.metrics.retrieval` is a function of two things per query: the rank of
each relevant database item in the stable Hamming ranking (ties in database order), and how many
database items lie at each of the ``bits + 1`` possible distances. Two engines compute them for a
block of queries and return the same :class:`BlockRanking` (numpy only):

``sort``
    A stable argsort of the block's distances. For 8- and 16-bit keys numpy's stable argsort is a
    radix (counting) sort: O(Ndb) per query, ties kept in database order. ``bits + 1`` sentinel
    columns holding the values ``0..bits`` sit before the database, so the counts per distance
    fall out of the same sort: the sentinel of value ``v`` ranks after the ``v`` smaller sentinels
    and the items closer than ``v``, and before the items at ``v``. Long databases are ranked in
    column chunks that stay in cache; the chunks' counts recombine into exact global ranks.

``count``
    No sort, for a block of queries of one class. The class's database items cut the database
    into segments (segment ``s`` ends at the ``s``-th relevant item); a bincount of (distance,
    segment) pairs and its cumulative sum over the segments give, for the ``s``-th relevant
    item, the number of items at its distance up to and including it: with the items at smaller
    distances, its stable rank. It keeps ``(bits + 1) * (relevant + 1)`` counters per query.
    Measured here it is slower than ``sort`` at every class size tried (from 20 to 2,000
    classes, databases of 10k to 200k items: building the int64 keys and the bincount cost more
    than numpy's radix sort), so ``sort`` is the default and ``count`` the independent check
    that the tests hold ``sort`` to.

The tie-aware values, P@H<=r and the PR curve need only the counts per distance, not the ranks:
:meth:`BlockRanker.count_levels` gives those alone (:class:`BlockCounts`), without ranking
anything: a bincount of the distances (taken two at a time in long rows), and one of the
relevant items' own columns (about one item in the number of classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vrt.metrics.hamming import HammingScanner
from vrt.metrics.levels import level_counts

__all__ = ["DEFAULT_CHUNK_SIZE", "BlockCounts", "BlockRanker", "BlockRanking"]

#: Database columns ranked together by the sort engine. Sorting a row of 65,536 items keeps its
#: index arrays (1 MiB) in cache; a 1,000,000-item row sorts about 1.5x slower per item here.
DEFAULT_CHUNK_SIZE = 1 << 16
# Bytes of argsort indices the sort engine holds at once: a few rows, within L2. Sorting a whole
# block of ~200 UCF101-sized rows at once took 1.4x as long.
_SORT_BUFFER_BYTES = 1 << 19
# Each class's marks (sentinels + its items) are kept for the blocks that follow while all of
# them together stay under this many bytes (rebuilding them per block took about 2% of a
# UCF101-sized evaluation); past it (huge databases) they are rebuilt per block.
_MARK_CACHE_BYTES = 1 << 26
# Distances :meth:`BlockRanker.count_levels` holds at once: a few rows of a column chunk (15 of
# 50,000 items, as many as level_counts counts in one call for 64-bit codes), so that they stay
# in cache between the Hamming pass and the counts. 512 KiB and 1 MiB took about as long,
# 256 KiB longer.
_COUNT_BUFFER_BYTES = 3 << 18


@dataclass(frozen=True, eq=False)
class BlockRanking:
    """What the metrics need of one block of ``b`` queries (all arrays numpy).

    ``rows``, ``ranks`` and ``distances`` list every (query, relevant item) pair, ordered by query
    and then by rank. ``within[q, r]`` counts the database items at distance ``<= r`` from query
    ``q``; its last column is the database size.
    """

    rows: np.ndarray  # intp [M], query index within the block
    ranks: np.ndarray  # int64 [M], 1-based rank in the stable Hamming ranking
    distances: np.ndarray  # intp [M], Hamming distance of the relevant item
    within: np.ndarray  # int64 [b, bits + 1]


@dataclass(frozen=True, eq=False)
class BlockCounts:
    """The counts per distance of one block of ``b`` queries, without ranks (numpy arrays).

    ``within[q, r]`` counts the database items at distance ``<= r`` from query ``q`` (its last
    column is the database size), ``relevant_within[q, r]`` the relevant ones: the same values
    as :attr:`BlockRanking.within` and :func:`vrt.metrics.measures.relevant_within` give.
    """

    within: np.ndarray  # int64 [b, bits + 1]
    relevant_within: np.ndarray  # int64 [b, bits + 1]


def _unsigned_dtype(max_value: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


class BlockRanker:
    """The database laid out once for ranking many blocks of queries.

    Args:
        database_codes: packed codes uint8 ``[Ndb, bits // 8]``.
        database_labels: class of each item, renumbered ``0..C-1``.
        chunk_size: database columns the sort engine ranks at once (results do not depend on it).
    """

    def __init__(
        self, database_codes: np.ndarray, database_labels: np.ndarray, *, chunk_size: int | None = None
    ):
        self.scanner = HammingScanner(database_codes)
        self.num_database = self.scanner.num_database
        self.levels = self.scanner.bits + 1  # possible distances 0..bits
        labels = np.asarray(database_labels)
        self.num_classes = int(labels.max()) + 1 if labels.size else 0
        # Classes 0..C-1; queries of a class the database lacks get C, which matches nothing.
        self.no_match = self.num_classes
        self.labels = labels.astype(_unsigned_dtype(self.no_match))

        chunk_size = DEFAULT_CHUNK_SIZE if chunk_size is None else int(chunk_size)
        num_chunks = max(1, -(-self.num_database // chunk_size))
        self.edges = np.linspace(0, self.num_database, num_chunks + 1).round().astype(np.intp)
        self.chunk_width = int(np.diff(self.edges).max())
        self.class_sizes = np.bincount(self.labels, minlength=self.num_classes)
        self._marks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._by_class: tuple[np.ndarray, np.ndarray] | None = None

    def count_bytes_per_query(self, label: int) -> int:
        """Peak working bytes per query of :meth:`rank_counted` (keys, counters, distances)."""
        relevant = int(self.class_sizes[label]) if label < self.num_classes else 0
        return 10 * self.num_database + 16 * self.levels * (relevant + 1)

    # -- sort engine --------------------------------------------------------------------------

    def rank_sorted(
        self, query_codes: np.ndarray, labels: int | Sequence[int], sizes: Sequence[int] | None = None
    ) -> BlockRanking:
        """Rank a block of queries grouped by class.

        ``labels`` (values of :meth:`map_labels`) and ``sizes`` describe the groups: the first
        ``sizes[0]`` queries have class ``labels[0]``, the next ``sizes[1]`` class ``labels[1]``,
        and so on. A single ``labels`` value without ``sizes`` gives every query that class.
        """
        num_rows, levels = query_codes.shape[0], self.levels
        group_labels, bounds = _groups(num_rows, labels, sizes)
        num_chunks = len(self.edges) - 1
        # Per group, the columns the sort must find: the sentinels and the relevant items.
        marks = [self._class_marks(label) for label in group_labels]
        wanted, relevant_columns = [mask for mask, _ in marks], [columns for _, columns in marks]
        buffer = np.empty((num_rows, levels + self.chunk_width), dtype=self.scanner.dtype)
        buffer[:, :levels] = np.arange(levels, dtype=self.scanner.dtype)
        # below[q, t, v]: items of chunk t at distance < v, for v = 0..bits+1 (the last: all).
        below = np.empty((num_rows, num_chunks, levels + 1), dtype=np.int64)
        pieces = []
        for chunk in range(num_chunks):
            start, stop = int(self.edges[chunk]), int(self.edges[chunk + 1])
            extended = buffer[:, : levels + stop - start]
            self.scanner.distances(query_codes, start=start, stop=stop, out=extended[:, levels:])
            if num_chunks == 1:
                chunk_wanted, chunk_columns = wanted, relevant_columns
            else:
                chunk_wanted, chunk_columns = [], []
                for mask, columns in zip(wanted, relevant_columns, strict=True):
                    chunk_wanted.append(np.concatenate([mask[:levels], mask[levels + start : levels + stop]]))
                    first, last = np.searchsorted(columns, [start, stop])
                    chunk_columns.append(columns[first:last] - start)
            rows, ranks, distances, below[:, chunk, :levels] = self._sort_chunk(
                extended, chunk_wanted, chunk_columns, bounds
            )
            below[:, chunk, levels] = stop - start
            pieces.append((rows, ranks, distances, np.full(rows.shape, chunk)))
        within = below[:, :, 1:].sum(axis=1)
        if num_chunks == 1:
            rows, ranks, distances, _ = pieces[0]
            return BlockRanking(rows, ranks, distances, within)

        rows, ranks, distances, chunks = (np.concatenate(parts) for parts in zip(*pieces, strict=True))
        # An item of chunk t ranks after the items at a distance <= its own in earlier chunks
        # and at a smaller distance in later chunks (ties go in database order).
        at_most, closer = below[:, :, 1:], below[:, :, :levels]
        earlier = np.cumsum(at_most, axis=1) - at_most
        later = closer.sum(axis=1, keepdims=True) - np.cumsum(closer, axis=1)
        ranks = ranks + (earlier + later)[rows, chunks, distances]
        order = np.argsort(rows * (self.num_database + 1) + ranks)  # unique keys: any sort will do
        return BlockRanking(rows[order], ranks[order], distances[order], within)

    def _class_marks(self, label: int) -> tuple[np.ndarray, np.ndarray]:
        """The sort engine's marks for class ``label``: sentinels and class items, and the items' columns."""
        marks = self._marks.get(label)
        if marks is None:
            mask = np.empty(self.levels + self.num_database, dtype=bool)
            mask[: self.levels] = True
            np.equal(self.labels, label, out=mask[self.levels :])
            marks = mask, np.flatnonzero(mask[self.levels :])
            if (len(self._marks) + 1) * mask.nbytes <= _MARK_CACHE_BYTES:
                self._marks[label] = marks  # threads may both build one: same value, no harm
        return marks

    def _sort_chunk(
        self,
        extended: np.ndarray,
        wanted: list[np.ndarray],
        relevant_columns: list[np.ndarray],
        bounds: list[int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Relevant (row, rank within the chunk, distance) and the items closer than each distance.

        Rows ``bounds[g]:bounds[g + 1]`` form group ``g``: its marks of the sentinels and relevant
        items are ``wanted[g]``, its relevant items' columns after the sentinels (ascending)
        ``relevant_columns[g]``.
        """
        num_rows, row_width = extended.shape
        levels = self.levels
        # Mark where the stable order puts the sentinels and the relevant items. A few rows are
        # sorted at a time so that their index array (8 bytes an item) stays in cache.
        found = np.empty((num_rows, row_width), dtype=bool)
        step = max(1, _SORT_BUFFER_BYTES // (8 * row_width))
        for group, mask in enumerate(wanted):
            for first in range(bounds[group], bounds[group + 1], step):
                rows = slice(first, min(first + step, bounds[group + 1]))
                order = np.argsort(extended[rows], axis=1, kind="stable")
                np.take(mask, order, out=found[rows], mode="wrap")  # indices are in range
        # bool nonzero is numpy's fastest path (3x a uint8 nonzero). Each row holds its levels
        # sentinels and its group's relevant items, in ranking order.
        positions = np.flatnonzero(found)
        del found
        # Which found entry is which follows from the relevant items' distances alone: in the
        # ranking they come in (distance, column) order, and the sentinel of value v comes after
        # the relevant items closer than v and before those at v.
        sorted_distances = [
            np.sort(extended[bounds[group] : bounds[group + 1], levels + columns], axis=1, kind="stable")
            for group, columns in enumerate(relevant_columns)
        ]
        distances = np.concatenate([part.reshape(-1) for part in sorted_distances]).astype(np.intp)
        per_row = np.repeat([columns.shape[0] for columns in relevant_columns], np.diff(bounds))
        rows = np.repeat(np.arange(num_rows), per_row)
        # The t-th relevant item (from 0) of its row, at distance d, has d + 1 sentinels and t
        # relevant items before it among its row's entries, and each earlier row its levels
        # sentinels and relevant items.
        entry = distances + np.arange(1, distances.shape[0] + 1)
        entry += levels * rows
        row_starts = np.arange(num_rows) * row_width
        ranks = positions[entry] - row_starts[rows] - distances  # among the chunk's items, 1-based
        is_sentinel = np.ones(positions.shape, dtype=bool)
        is_sentinel[entry] = False
        closer = positions[is_sentinel].reshape(num_rows, levels) - row_starts[:, None] - np.arange(levels)
        return rows, ranks, distances, closer

    # -- counts per distance alone ------------------------------------------------------------

    def count_levels(
        self, query_codes: np.ndarray, labels: int | Sequence[int], sizes: Sequence[int] | None = None
    ) -> BlockCounts:
        """The counts per distance of a block of queries grouped by class, without ranking.

        ``labels`` and ``sizes`` describe the groups as in :meth:`rank_sorted`. The distances are
        computed once, a tile of a few rows by one column chunk at a time; each group's relevant
        items are counted in their own columns, and all items with one bincount
        (:func:`~vrt.metrics.levels.level_counts`).
        """
        num_rows, levels = query_codes.shape[0], self.levels
        group_labels, bounds = _groups(num_rows, labels, sizes)
        dtype, edges = self.scanner.dtype, self.edges.tolist()
        # Tiles of a few rows by one column chunk (all columns up to DEFAULT_CHUNK_SIZE), so that
        # the distances stay in cache from the Hamming pass to the counts, whatever the database
        # size; the counts of the chunks add up.
        step = max(1, _COUNT_BUFFER_BYTES // ((self.chunk_width + 1) * dtype.itemsize))
        buffer = np.empty(min(step, num_rows) * (self.chunk_width + 1), dtype=dtype)
        within = np.zeros((num_rows, levels), dtype=np.int64)
        relevant = np.zeros((num_rows, levels), dtype=np.int64)
        for group, label in enumerate(group_labels):
            columns = self._class_columns(label)
            for first in range(bounds[group], bounds[group + 1], step):
                last = min(first + step, bounds[group + 1])
                for start, stop in zip(edges[:-1], edges[1:], strict=True):
                    self._count_tile(
                        query_codes[first:last],
                        start,
                        stop,
                        columns,
                        buffer,
                        within[first:last],
                        relevant[first:last],
                    )
        np.cumsum(relevant, axis=1, out=relevant)
        return BlockCounts(within=within, relevant_within=relevant)

    def _count_tile(
        self,
        query_codes: np.ndarray,
        start: int,
        stop: int,
        columns: np.ndarray,
        buffer: np.ndarray,
        within: np.ndarray,
        relevant: np.ndarray,
    ) -> None:
        """Add the counts of database columns ``start:stop`` to ``within`` (cumulative) and
        ``relevant`` (per distance); ``columns`` are the relevant columns, ascending."""
        num_rows, levels, width = query_codes.shape[0], self.levels, stop - start
        # An odd width gets a last column of zeros for level_counts' two-at-a-time count.
        padded = width % 2 == 1 and self.scanner.dtype == np.uint8
        rows = buffer[: num_rows * (width + padded)].reshape(num_rows, width + padded)
        if padded:
            rows[:, width] = 0
        distances = self.scanner.distances(query_codes, start=start, stop=stop, out=rows[:, :width])
        first, last = np.searchsorted(columns, [start, stop])
        if last > first:
            keys = np.take(distances, columns[first:last] - start, axis=1).astype(np.intp)
            keys += (np.arange(num_rows) * levels)[:, None]
            relevant += np.bincount(keys.reshape(-1), minlength=num_rows * levels).reshape(num_rows, levels)
        within += level_counts(rows, levels)
        if padded:
            within -= 1  # the padding column, at distance 0

    def _class_columns(self, label: int) -> np.ndarray:
        """The database columns of class ``label`` (a value of :meth:`map_labels`), ascending."""
        if label >= self.num_classes:
            return np.empty(0, dtype=np.intp)
        if self._by_class is None:  # threads may both build it: same value, no harm
            order = np.argsort(self.labels, kind="stable")  # each class's columns stay ascending
            self._by_class = order, np.concatenate([[0], np.cumsum(self.class_sizes)])
        order, bounds = self._by_class
        return order[bounds[label] : bounds[label + 1]]

    # -- count engine -------------------------------------------------------------------------

    def rank_counted(self, query_codes: np.ndarray, label: int) -> BlockRanking:
        """Rank a block of queries that all have class ``label`` (a value of :meth:`map_labels`)."""
        num_rows, levels = query_codes.shape[0], self.levels
        in_class = self.labels == label
        positions = np.flatnonzero(in_class)
        num_relevant = positions.shape[0]
        segments = num_relevant + 1
        # Segment of each database position: the number of relevant items before it, so that the
        # s-th relevant item closes segment s.
        segment_of = np.cumsum(in_class, dtype=np.int64) - in_class
        del in_class

        distances = self.scanner.distances(query_codes)
        # Key (row, distance, segment): the cumulative sums below then run along contiguous rows.
        keys = np.multiply(distances, segments, dtype=np.int64)
        keys += segment_of
        keys += (np.arange(num_rows, dtype=np.int64) * (levels * segments))[:, None]
        counts = np.bincount(keys.reshape(-1), minlength=num_rows * levels * segments)
        del keys
        counts = counts.reshape(num_rows, levels, segments)
        # counts[q, v, s]: items at distance v up to the end of segment s.
        np.cumsum(counts, axis=2, out=counts)
        histogram = counts[:, :, num_relevant]
        within = np.cumsum(histogram, axis=1)
        if num_relevant == 0:
            empty = np.empty(0, dtype=np.intp)
            return BlockRanking(empty, empty.astype(np.int64), empty, within)

        relevant_distances = distances[:, positions].astype(np.intp)  # database order
        rows = np.arange(num_rows)[:, None]
        tied_up_to = counts[rows, relevant_distances, np.arange(num_relevant)]
        closer = within - histogram
        ranks = np.take_along_axis(closer, relevant_distances, axis=1) + tied_up_to
        # The relevant items' own stable order by distance is their order in the ranking.
        order = np.argsort(relevant_distances, axis=1, kind="stable")
        return BlockRanking(
            rows=np.repeat(np.arange(num_rows), num_relevant),
            ranks=np.take_along_axis(ranks, order, axis=1).reshape(-1),
            distances=np.take_along_axis(relevant_distances, order, axis=1).reshape(-1),
            within=within,
        )

    # -- labels -------------------------------------------------------------------------------

    def map_labels(self, dense_labels: np.ndarray) -> np.ndarray:
        """Query labels (``0..C-1``, or -1 for classes the database lacks) in the engines' dtype."""
        dense_labels = np.asarray(dense_labels)
        return np.where(dense_labels >= 0, dense_labels, self.no_match).astype(self.labels.dtype)


def _groups(
    num_rows: int, labels: int | Sequence[int], sizes: Sequence[int] | None
) -> tuple[list[int], list[int]]:
    """The groups' labels and their row bounds (group ``g`` is rows ``bounds[g]:bounds[g + 1]``)."""
    if isinstance(labels, (int, np.integer)):
        group_labels, group_sizes = [int(labels)], [num_rows] if sizes is None else list(sizes)
    else:
        group_labels, group_sizes = [int(label) for label in labels], list(sizes or [])
    if len(group_labels) != len(group_sizes) or sum(group_sizes) != num_rows or min(group_sizes) < 1:
        raise ValueError(f"groups of sizes {group_sizes} do not cover {num_rows} queries")
    return group_labels, np.cumsum([0, *group_sizes]).tolist()

"""Cutting an evaluation into blocks of queries: sizes from memory, engine per class, threads.

Memory stays bounded because a block holds only its own ``[block, chunk]`` working arrays. The
default aims at about 2M (query, item) pairs per block, several small classes together (a
block's Python overhead then stays small next to its sorting, which runs a few rows at a time
in cache), and memory only binds on small machines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np

from vrt.metrics.ranking import DEFAULT_CHUNK_SIZE, BlockRanker
from vrt.runtime.cpus import usable_cores

__all__ = [
    "MEMORY_CAP",
    "MIN_LEVEL_BLOCK",
    "PAIRS_PER_BLOCK",
    "Block",
    "Engine",
    "available_memory",
    "default_block_size",
    "default_level_block_size",
    "default_workers",
    "default_memory_budget",
    "plan_blocks",
    "run_in_order",
]

Engine = Literal["sort", "count"]

#: Most working memory an evaluation takes by default, whatever the machine has free.
MEMORY_CAP = 1 << 30
#: (query, item) pairs per block. A sort block holds several small classes, which then share its
#: fixed costs (Python and small numpy calls, which hold the GIL and so serialise threads): on a
#: UCF101-sized evaluation with 2 threads, 2M pairs (about 5 classes a block) took 15-20% less
#: time than 512k (one class a block) and than 4M, and 2.6M (14 blocks there) about 5% less than
#: 2M (best of 15 calls each). The sort works a few rows at a time (``ranking._SORT_BUFFER_BYTES``),
#: so its index arrays stay in cache whatever the block size.
PAIRS_PER_BLOCK = 5 << 19
#: Fewest queries in a block of the counts alone (:func:`default_level_block_size`).
MIN_LEVEL_BLOCK = 32
# Working bytes per (query, item) pair of the sort engine, generously: distances, marks, XOR
# words, the sort's index arrays, gathered labels and masks.
_BYTES_PER_PAIR = 32

T = TypeVar("T")
R = TypeVar("R")


def available_memory(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """``MemAvailable`` in bytes, or None where the kernel does not say (not Linux)."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_memory_budget() -> int:
    """Working memory for one evaluation: a quarter of what is available, at most :data:`MEMORY_CAP`."""
    available = available_memory()
    return MEMORY_CAP if available is None else max(1 << 24, min(MEMORY_CAP, available // 4))


def default_workers() -> int:
    """Threads ranking blocks side by side: one per usable core, at most 8.

    The heavy numpy calls (Hamming distances, the sort, gathers) release the GIL.
    """
    return min(usable_cores(), 8)


def default_block_size(
    num_database: int, *, bits: int = 64, workers: int = 1, memory_budget: int | None = None
) -> int:
    """Queries per block: about :data:`PAIRS_PER_BLOCK` pairs, within the memory budget.

    The budget (default :func:`default_memory_budget`) is shared by the ``workers`` blocks in flight.
    """
    if num_database <= 0:
        raise ValueError(f"num_database must be positive, got {num_database}")
    if memory_budget is None:
        memory_budget = default_memory_budget()
    width = min(num_database, DEFAULT_CHUNK_SIZE) + bits + 1
    by_speed = PAIRS_PER_BLOCK // width
    by_memory = memory_budget // (max(1, workers) * width * _BYTES_PER_PAIR)
    return max(1, min(by_speed, by_memory))


def default_level_block_size(
    num_database: int, *, bits: int = 64, workers: int = 1, memory_budget: int | None = None
) -> int:
    """Queries per block of the counts alone (:meth:`BlockRanker.count_levels`).

    About :data:`PAIRS_PER_BLOCK` pairs, and at least :data:`MIN_LEVEL_BLOCK` queries: the
    distances are held a few rows by one column chunk at a time whatever the block size, and a
    block of few queries against a long database would pay its per-tile calls for few rows.
    Memory only bounds the per-query counts (``within`` and ``relevant_within``, ``bits + 1`` of
    each) of the ``workers`` blocks in flight.
    """
    if num_database <= 0:
        raise ValueError(f"num_database must be positive, got {num_database}")
    if memory_budget is None:
        memory_budget = default_memory_budget()
    levels = bits + 1
    by_speed = max(MIN_LEVEL_BLOCK, PAIRS_PER_BLOCK // (num_database + levels))
    by_memory = memory_budget // (max(1, workers) * 16 * levels)
    return max(1, min(by_speed, by_memory))


@dataclass(frozen=True, eq=False)
class Block:
    """Queries ranked together, grouped by class, by the count engine or the sort engine.

    The first ``sizes[0]`` queries have class ``labels[0]``, the next ``sizes[1]`` class
    ``labels[1]``, and so on. Count blocks hold one class.
    """

    queries: np.ndarray  # intp, indices into the query set
    labels: tuple[int, ...]
    sizes: tuple[int, ...]
    counted: bool

    @property
    def label(self) -> int:
        """The class of a block of one class."""
        if len(self.labels) != 1:
            raise ValueError(f"the block holds {len(self.labels)} classes")
        return self.labels[0]


def plan_blocks(
    labels: np.ndarray,
    ranker: BlockRanker,
    *,
    engine: Engine,
    block_size: int | None,
    workers: int = 1,
    memory_budget: int | None = None,
) -> list[Block]:
    """Blocks of queries grouped by class (``labels`` as :meth:`BlockRanker.map_labels` gives them).

    Grouping by class lets the engines read relevance off a per-class table instead of
    comparing labels. ``block_size=None`` sizes the blocks with :func:`default_block_size`. A
    count block holds one class and is further held to the memory budget; a sort block holds
    the queries of consecutive classes up to the block size, so that classes with few queries
    share the per-block work.
    """
    counted = engine == "count"
    if block_size is None:
        budget = default_memory_budget() if memory_budget is None else memory_budget
        rows = default_block_size(
            ranker.num_database, bits=ranker.levels - 1, workers=workers, memory_budget=budget
        )
    order = np.argsort(labels, kind="stable")
    classes, starts = np.unique(labels[order], return_index=True)
    blocks = []
    pending: list[tuple[int, np.ndarray]] = []  # sort engine: groups waiting to fill a block

    def flush() -> None:
        if pending:
            queries = np.concatenate([members for _, members in pending])
            groups = tuple(label for label, _ in pending), tuple(len(members) for _, members in pending)
            blocks.append(Block(queries, *groups, counted=False))
            pending.clear()

    for label, members in zip(classes.tolist(), np.split(order, starts[1:]), strict=True):
        size = block_size
        if size is None:
            size = rows
            if counted:
                size = max(1, min(rows, budget // (max(1, workers) * ranker.count_bytes_per_query(label))))
        for chunk in _split(members, size):
            if counted:
                blocks.append(Block(chunk, (label,), (len(chunk),), counted=True))
                continue
            if sum(len(members) for _, members in pending) + len(chunk) > size:
                flush()
            pending.append((label, chunk))
    flush()
    return blocks


def _split(indices: np.ndarray, size: int) -> list[np.ndarray]:
    return [indices[start : start + size] for start in range(0, indices.shape[0], size)]


def run_in_order(work: Callable[[T], R], items: Iterable[T], *, workers: int) -> Iterator[R]:
    """``map(work, items)`` on ``workers`` threads, results in order, few blocks in flight."""
    if workers <= 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vrt-metrics") as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

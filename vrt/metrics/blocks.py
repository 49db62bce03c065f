"""Cutting an evaluation into blocks of queries: sizes from memory, engine per class, threads.

Memory stays bounded because a block holds only its own ``[block, chunk]`` working arrays. Small
blocks are also the fast ones (their arrays stay in cache, and a block's Python overhead is
small next to its sorting), so the default aims at about 512k (query, item) pairs per block and
memory only binds on small machines.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np

from vrt.metrics.ranking import DEFAULT_CHUNK_SIZE, BlockRanker

__all__ = [
    "MEMORY_CAP",
    "PAIRS_PER_BLOCK",
    "Block",
    "Engine",
    "available_memory",
    "default_block_size",
    "default_workers",
    "default_memory_budget",
    "plan_blocks",
    "run_in_order",
]

Engine = Literal["sort", "count"]

#: Most working memory an evaluation takes by default, whatever the machine has free.
MEMORY_CAP = 1 << 30
#: (query, item) pairs per block. On a UCF101-sized evaluation, blocks of 125k to 2M pairs took
#: about the same time (within 10%), 4M pairs 15% longer: the arrays fall out of cache.
PAIRS_PER_BLOCK = 1 << 19
# Working bytes per (query, item) pair of the sort engine: distances, XOR words, the sort's
# index array and numpy's internal copy of it, gathered labels and masks.
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
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


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


@dataclass(frozen=True, eq=False)
class Block:
    """Queries of one class ranked together, by the count engine or the sort engine."""

    queries: np.ndarray  # intp, indices into the query set
    label: int
    counted: bool


def plan_blocks(
    labels: np.ndarray,
    ranker: BlockRanker,
    *,
    engine: Engine,
    block_size: int | None,
    workers: int = 1,
    memory_budget: int | None = None,
) -> list[Block]:
    """Blocks of queries of one class (``labels`` as :meth:`BlockRanker.map_labels` gives them).

    One class per block lets the engines read relevance off a per-class table instead of
    comparing labels. ``block_size=None`` sizes the blocks with :func:`default_block_size`; the
    count engine, which works on whole database rows, is further held to the memory budget.
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
    for label, members in zip(classes.tolist(), np.split(order, starts[1:]), strict=True):
        size = block_size
        if size is None:
            size = rows
            if counted:
                size = max(1, min(rows, budget // (max(1, workers) * ranker.count_bytes_per_query(label))))
        blocks += [Block(chunk, label, counted) for chunk in _split(members, size)]
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

"""Build time and search time of each Hamming index kind (``vrt index build --kind ...``).

Two collections of 64-bit codes: uniformly random codes (no structure: multi-hash buckets stay
small) and clustered codes (class centres with a few flipped bits: what a trained model gives,
where many items lie within a few bits of a query). Queries come from the same distribution.

    python benchmarks/index_speed.py                       # 1M random and 100k clustered codes
    python benchmarks/index_speed.py --random 200000 --clustered 50000 --queries 200
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from vrt.codes import CodeSet
from vrt.index import HammingIndex


def random_codes(count: int, bits: int, rng: np.random.Generator) -> CodeSet:
    flips = rng.random((count, bits)) < 0.5
    return CodeSet.from_bits(
        flips, labels=np.zeros(count, dtype=np.int64), ids=[str(i) for i in range(count)]
    )


def clustered_codes(count: int, bits: int, classes: int, flip: float, rng: np.random.Generator) -> CodeSet:
    centres = rng.random((classes, bits)) < 0.5
    labels = rng.integers(0, classes, count)
    flips = centres[labels] ^ (rng.random((count, bits)) < flip)
    return CodeSet.from_bits(flips, labels=labels, ids=[str(i) for i in range(count)])


def time_kinds(name: str, database: CodeSet, queries: CodeSet, topk: int) -> list[str]:
    """One row per kind; recall counts a result as found when it is as near as the exact K-th item."""
    rows = []
    exact_kth = None
    for kind in ("flat", "multihash", "hnsw"):  # flat first: it is exact, the reference for recall
        started = time.perf_counter()
        index = HammingIndex.build(database, kind=kind)
        built = time.perf_counter() - started
        started = time.perf_counter()
        distances, positions = index.search(queries.codes, topk)
        per_query_ms = (time.perf_counter() - started) / len(queries) * 1e3
        if exact_kth is None:
            exact_kth = distances[:, -1:]
        recall = ((distances <= exact_kth) & (positions >= 0)).mean()
        rows.append(
            f"| {name} | {len(database):,} | `{kind}` | {built:.2f} | {per_query_ms:.3f} | {recall:.3f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random", type=int, default=1_000_000, help="size of the random collection")
    parser.add_argument("--clustered", type=int, default=100_000, help="size of the clustered collection")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--topk", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = time_kinds(
        "uniformly random",
        random_codes(args.random, args.bits, rng),
        random_codes(args.queries, args.bits, rng),
        args.topk,
    )
    clustered = clustered_codes(args.clustered + args.queries, args.bits, 100, 0.1, rng)
    database = CodeSet(
        clustered.codes[: args.clustered],
        args.bits,
        clustered.labels[: args.clustered],
        clustered.ids[: args.clustered],
    )
    queries = CodeSet(
        clustered.codes[args.clustered :],
        args.bits,
        clustered.labels[args.clustered :],
        clustered.ids[args.clustered :],
    )
    rows += time_kinds("clustered (100 classes, 10% flips)", database, queries, args.topk)
    print(
        f"{os.cpu_count()} CPUs, {args.bits}-bit codes, top {args.topk}, {args.queries} queries searched at once\n"
    )
    print(f"| codes | database | kind | build (s) | search (ms per query) | top-{args.topk} recall |")
    print("|---|---:|---|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

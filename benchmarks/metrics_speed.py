"""Speed of vrt's retrieval metrics against a per-query numpy loop, with identical values.

The loop is the evaluation found in the common hashing codebases (DeepHash, DSH): codes as
+-1 floats, Hamming distances from a dot product, ``np.argsort`` of each query's distances
(stable, for the ties-in-database-order rule), precision from a cumulative sum; it computes
``vrt.metrics.evaluate_retrieval``'s database-order values (mAP, mAP@K, P@K, R@K), its
tie-aware mAP and P@H<=r one query at a time. vrt's timing includes everything else it reports
(tie-aware mAP@K, P@K, R@K and the code diagnostics). Both run on the same random codes with
class structure (each class a random centre, each item its class's centre with every bit
flipped with probability ``--flip``: many Hamming ties, as with trained codes), and every value
both sides computed is checked to agree to 1e-12; the table's ``compared`` column names them.

    python benchmarks/metrics_speed.py                       # the UCF101 and 5k x 50k cases
    python benchmarks/metrics_speed.py --case big            # 10,000 x 1,000,000 alone
    python benchmarks/metrics_speed.py --case 5k50k --cli    # the whole `vrt eval` process
    python benchmarks/metrics_speed.py --tie-aware-only      # vrt without the database-order values
    python benchmarks/metrics_speed.py --queries 500 --database 20000 --classes 10

In process vrt computes every value (``evaluate_retrieval``), or with ``--tie-aware-only`` the
tie-aware values alone (``database_order=False``: counts per distance, no ranking; its
``*_database_order`` values are then None and not compared). ``--cli`` writes the codes to .npz
files and times the ``vrt eval --query --database --json`` subprocess (interpreter start,
imports, loading, evaluation, printing), which computes what ``vrt eval --json`` computes. It
gives the process a bytecode cache of its own (``PYTHONPYCACHEPREFIX``, filled by one untimed
run), as an installed vrt has: an environment with ``PYTHONDONTWRITEBYTECODE`` set and no
``__pycache__`` (an editable install) would otherwise compile every vrt module from source in
every run; ``--no-bytecode-cache`` times it that way. For
the big case the loop runs on a sample of queries (``--loop-queries``); its time is scaled to
all queries and the table says so. vrt and the loop are timed alternately ``--repeat`` times
(single runs on the 2-core development machine, shared with other work, varied by up to half);
the table gives each side's median with the range, and the speed-up of the medians. Prints a
markdown table; figures belong in docs/benchmarks.md.
"""

# ruff: noqa: E402 - the BLAS thread variables must be set before numpy is imported
from __future__ import annotations

import argparse
import json
import os

# The loop's only BLAS call is a 64-wide matrix-vector product per query, which more threads do
# not speed up; spinning BLAS threads made its time erratic on a busy machine.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from vrt.codes import CodeSet, save_codes
from vrt.metrics import evaluate_retrieval

CASES = {
    # name: (queries, database, classes)
    "ucf101": (3783, 9537, 101),  # UCF101 split 1: test videos vs training videos
    "5k50k": (5000, 50_000, 100),
    "big": (10_000, 1_000_000, 100),
}
# The loop's values: the stable ranking's (ties in database order, vrt's "*_database_order" keys),
# the tie-aware mAP (vrt's headline "map") and P@H<=r. vrt leaves the first four None when it
# was asked for the tie-aware values alone; only the values both sides computed are compared.
KEYS = (
    "map_database_order",
    "map@K_database_order",
    "precision@K_database_order",
    "recall@K_database_order",
    "map",
    "precision@H<=r",
)
TOLERANCE = 1e-12


def class_structured_codes(
    num_items: int, *, bits: int, classes: int, flip: float, seed: int, prefix: str
) -> CodeSet:
    centres = np.random.default_rng(12345).random((classes, bits)) < 0.5  # shared by both sets
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, num_items)
    bits_array = centres[labels] ^ (rng.random((num_items, bits)) < flip)
    ids = np.char.add(prefix, np.arange(num_items).astype(str))
    return CodeSet(codes=np.packbits(bits_array, axis=1), bits=bits, labels=labels, ids=ids)


def loop_metrics(query: CodeSet, database: CodeSet, *, topk: int, radius: int) -> dict[str, float]:
    """One query at a time, as the hashing codebases do (see the module docstring)."""
    bits = query.bits
    query_pm = np.unpackbits(query.codes, axis=1).astype(np.float32) * 2 - 1
    database_pm = np.unpackbits(database.codes, axis=1).astype(np.float32) * 2 - 1
    depth = min(topk, len(database))
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, len(database) + 1))])
    ap, ap_k, p_k, r_k, tie, p_h = [], [], [], [], [], []
    for i in range(len(query)):
        hamming = 0.5 * (bits - database_pm @ query_pm[i])
        order = np.argsort(hamming, kind="stable")
        is_relevant = database.labels == query.labels[i]
        relevant = is_relevant[order]
        p_k.append(relevant[:depth].sum() / depth)
        distance = hamming.astype(np.int64)
        counts = np.bincount(distance, minlength=bits + 1)
        relevant_counts = np.bincount(distance[is_relevant], minlength=bits + 1)
        retrieved = counts[: radius + 1].sum()
        p_h.append(relevant_counts[: radius + 1].sum() / retrieved if retrieved else 0.0)
        num_relevant = relevant.sum()
        if num_relevant == 0:
            continue
        ranks = np.flatnonzero(relevant) + 1.0
        precision = np.arange(1, num_relevant + 1) / ranks
        ap.append(precision.mean())
        top = ranks <= depth
        ap_k.append(precision[top].mean() if top.any() else 0.0)
        r_k.append(top.sum() / num_relevant)
        # Tie-aware AP (McSherry & Najork 2008) in closed form over the tie groups (distances).
        before = np.cumsum(counts) - counts
        relevant_before = np.cumsum(relevant_counts) - relevant_counts
        group = relevant_counts > 0
        n, r, a, rb = counts[group], relevant_counts[group], before[group], relevant_before[group]
        spread = harmonic[a + n] - harmonic[a]
        pairs = np.where(n > 1, (r - 1) / np.maximum(n - 1, 1), 0.0) * (n - (a + 1) * spread)
        tie.append(np.sum(r / n * ((rb + 1) * spread + pairs)) / num_relevant)
    return {
        "map_database_order": float(np.mean(ap)),
        "map@K_database_order": float(np.mean(ap_k)),
        "precision@K_database_order": float(np.mean(p_k)),
        "recall@K_database_order": float(np.mean(r_k)),
        "map": float(np.mean(tie)),
        "precision@H<=r": float(np.mean(p_h)),
    }


def vrt_values(metrics: dict, *, topk: int, radius: int) -> dict[str, float | None]:
    names = {
        "map_database_order": "map_database_order",
        "map@K_database_order": f"map@{topk}_database_order",
        "precision@K_database_order": f"precision@{topk}_database_order",
        "recall@K_database_order": f"recall@{topk}_database_order",
        "map": "map",
        "precision@H<=r": f"precision@H<={radius}",
    }
    return {key: metrics[name] for key, name in names.items()}


@dataclass
class Row:
    case: str
    loop_s: list[float]
    vrt_s: list[float]
    note: str
    max_difference: float
    compared: tuple[str, ...]
    peak_rss_gib: float


def check_equal(loop: dict[str, float], ours: dict[str, float | None]) -> tuple[float, tuple[str, ...]]:
    """The largest difference over the values vrt computed (not None), and their names."""
    compared = tuple(key for key in KEYS if ours[key] is not None)
    if "map" not in compared:
        raise AssertionError("vrt computed no tie-aware mAP")
    differences = {key: abs(loop[key] - ours[key]) for key in compared}
    worst = max(differences.values())
    if not worst <= TOLERANCE:
        raise AssertionError(f"vrt and the loop disagree: {differences}")
    return worst, compared


def run_vrt_cli(
    paths: tuple[Path, Path], *, topk: int, radius: int, workers: int | None, bytecode: Path | None
) -> tuple[float, dict]:
    """The wall-clock time of one ``vrt eval --json`` process on the codes files, and its output.

    With ``bytecode`` (a folder) the process reads and writes its modules' bytecode there
    (``PYTHONPYCACHEPREFIX``) even where ``PYTHONDONTWRITEBYTECODE`` is set, as an installed vrt
    does; without it the process runs in this environment as it is.
    """
    command = [sys.executable, "-m", "vrt", "eval", "--query", str(paths[0]), "--database", str(paths[1])]
    command += ["--topk", str(topk), "--radius", str(radius), "--json"]
    if workers is not None:
        command += ["--workers", str(workers)]
    env = dict(os.environ)
    if bytecode is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"vrt eval failed:\n{done.stderr}")
    return elapsed, json.loads(done.stdout)


def run_case(name: str, args: argparse.Namespace) -> Row:
    num_queries, num_database, classes = CASES.get(name, (args.queries, args.database, args.classes))
    make = dict(bits=args.bits, classes=classes, flip=args.flip)
    query = class_structured_codes(num_queries, seed=1, prefix="q", **make)
    database = class_structured_codes(num_database, seed=2, prefix="db", **make)
    topk, radius = args.topk, args.radius
    repeat = args.repeat or (1 if name == "big" else 3)
    database_order = not args.tie_aware_only

    with tempfile.TemporaryDirectory() as folder:
        if args.cli:
            paths = (Path(folder) / "q.npz", Path(folder) / "db.npz")
            save_codes(paths[0], query)
            save_codes(paths[1], database)
            bytecode = None if args.no_bytecode_cache else Path(folder) / "bytecode"

            def run_vrt() -> tuple[float, dict]:
                return run_vrt_cli(paths, topk=topk, radius=radius, workers=args.workers, bytecode=bytecode)

            if bytecode is not None:
                run_vrt()  # untimed: compiles every module's bytecode into the cache
            label = "`vrt eval --json` process" + (", no bytecode cache" if bytecode is None else "")
        else:

            def run_vrt() -> tuple[float, dict]:
                started = time.perf_counter()
                report = evaluate_retrieval(
                    query,
                    database,
                    topk=topk,
                    radius=radius,
                    workers=args.workers,
                    engine=args.engine,
                    database_order=database_order,
                )
                return time.perf_counter() - started, report.to_dict()

            label = "evaluate_retrieval" + ("" if database_order else "(database_order=False)")

        loop_queries = args.loop_queries or (200 if name == "big" else None)
        sample = num_queries if loop_queries is None else min(loop_queries, num_queries)
        sampled = query if sample == num_queries else _take(query, sample)
        vrt_s, loop_s = [], []
        for _ in range(repeat):  # alternately, so that both sides see the same machine
            seconds, metrics = run_vrt()
            vrt_s.append(seconds)
            started = time.perf_counter()
            loop = loop_metrics(sampled, database, topk=topk, radius=radius)
            loop_s.append((time.perf_counter() - started) * num_queries / sample)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB

    if sample == num_queries:
        ours, note = vrt_values(metrics, topk=topk, radius=radius), label
    else:
        # Compare on the sampled queries; the loop's time is scaled to all of them.
        ours = vrt_values(
            evaluate_retrieval(
                sampled, database, topk=topk, radius=radius, database_order=database_order
            ).to_dict(),
            topk=topk,
            radius=radius,
        )
        note = f"{label}; loop timed on {sample} queries and scaled"
    if repeat > 1:
        note += f"; median of {repeat}, alternately"
    worst, compared = check_equal(loop, ours)
    return Row(
        case=f"{num_queries:,} x {num_database:,}, {args.bits} bits, {classes} classes",
        loop_s=loop_s,
        vrt_s=vrt_s,
        note=note,
        max_difference=worst,
        compared=compared,
        peak_rss_gib=peak,
    )


def _take(codes: CodeSet, count: int) -> CodeSet:
    return CodeSet(
        codes.codes[:count], codes.bits, codes.labels[:count], codes.ids[:count], codes.class_names
    )


def _compared(keys: tuple[str, ...]) -> str:
    """The values compared: the loop's six, or the two vrt computes without the database order."""
    ordered = sum(key.endswith("_database_order") for key in keys)
    rest = ", ".join(
        key.replace("precision@H<=r", "P@H<=r") for key in keys if not key.endswith("_database_order")
    )
    return f"{ordered} database-order, {rest}" if ordered else f"{rest} (vrt: tie-aware only)"


def _seconds(values: list[float], digits: int) -> str:
    median = f"{statistics.median(values):.{digits}f}"
    return median if len(values) == 1 else f"{median} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def markdown(rows: list[Row]) -> str:
    lines = [
        "| case | per-query loop (s) | vrt (s) | speed-up | max difference | compared | peak RSS (GiB) "
        "| vrt timed |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for row in rows:
        speed_up = statistics.median(row.loop_s) / statistics.median(row.vrt_s)
        lines.append(
            f"| {row.case} | {_seconds(row.loop_s, 2)} | {_seconds(row.vrt_s, 3)} | {speed_up:.1f}x "
            f"| {row.max_difference:.1e} | {_compared(row.compared)} | {row.peak_rss_gib:.2f} | {row.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=[*CASES, "custom"], help="repeatable")
    parser.add_argument("--queries", type=int, default=1000, help="custom case")
    parser.add_argument("--database", type=int, default=10_000, help="custom case")
    parser.add_argument("--classes", type=int, default=100, help="custom case")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--flip", type=float, default=0.25, help="bit flip probability around a class centre")
    parser.add_argument("--topk", type=int, default=100)
    parser.add_argument("--radius", type=int, default=2)
    parser.add_argument("--cli", action="store_true", help="time the whole `vrt eval` process on .npz files")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="--cli: time the process as this environment runs it, without a bytecode cache",
    )
    parser.add_argument("--workers", type=int, help="vrt's threads (default: one per core, at most 8)")
    parser.add_argument(
        "--engine", choices=("sort", "count"), default="sort", help="vrt's ranking engine (in-process runs)"
    )
    parser.add_argument(
        "--tie-aware-only",
        action="store_true",
        help="in process: vrt computes the tie-aware values alone (database_order=False)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="time each side this many times, alternately, and report the medians (default: big 1, others 3)",
    )
    parser.add_argument(
        "--loop-queries", type=int, help="time the loop on this many queries (default: all; big: 200)"
    )
    args = parser.parse_args(argv)
    cases = args.case or ["ucf101", "5k50k"]
    rows = []
    for name in cases:
        rows.append(run_case(name, args))
        print(f"done: {markdown(rows[-1:]).splitlines()[-1]}", file=sys.stderr, flush=True)
    from vrt.metrics.blocks import default_workers

    print(
        f"\n{os.cpu_count()} cores, numpy {np.__version__}, vrt threads: {args.workers or default_workers()}, "
        f"loop BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}\n"
    )
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every index kind at one and ten million codes, side by side in one run: build, size, load, speed, recall.

The databases are shaped like trained codes, not uniform noise (on which no index beats a scan):

* ``centres``: 64-bit codes of 1,000 class centres, each bit flipped with probability 0.08
  (about 5 bits from the centre), the way a hashing model's codes gather around its classes;
* ``real``: the codes a trained model made (``--real``, a codes file: by default the fine-tuned
  EfficientNet-Lite0 run of ``benchmarks/frame_encoders.py``), each drawn at random and each bit
  flipped with probability 0.03, so that the database keeps the real codes' structure.

Queries are 1,000 more codes drawn the same way (none of them in the database). For each kind, in
processes of their own: build time and peak RSS (the codes loaded, the index built and written),
the index file's size, load time and RSS after loading (a fresh process), queries per second
with 1 and 2 faiss threads (top 10, queries in batches of 100), and recall@10 against the
exact ranking, tie-aware (a result counts when it is as near as the true 10th: an index cannot
lose recall by choosing among tied items). ``milvus`` is milvus-lite (embedded Milvus, its own
server process), exact (BIN_FLAT), at one million codes only.

``vrt serve`` is measured on the ten-million-code databases: p50/p99 latency of id searches
(top 10) from one client, 500 requests after 20 of warm-up, on a flat and an ivf index.

    python benchmarks/index_scale.py --output runs/index_scale

Results go to ``OUTPUT/results.jsonl`` (one line per kind and database; a line that exists is
not measured again) and the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REAL = REPO_ROOT / "runs/frame_encoders/realmotion/finetuned_motion/seed0/codes_train.npz"
KINDS = ("flat", "multihash", "hnsw", "ivf", "milvus")
QUERIES = 1000
TOPK = 10
MILVUS_LIMIT = 1_000_000  # milvus-lite is measured at one million codes


# -- the databases ----------------------------------------------------------------------------


def make_database(shape: str, size: int, out: Path, *, real: Path) -> None:
    """Write ``size`` database codes and QUERIES query codes of ``shape`` (deterministic)."""
    from vrt.codes import CodeSet, load_codes, save_codes

    rng = np.random.default_rng(0)
    if shape == "centres":
        bits, flip = 64, 0.08
        centres = rng.random((1000, bits)) < 0.5
    else:
        source = load_codes(real)
        bits, flip = source.bits, 0.03
        centres = np.unpackbits(source.codes, axis=1)[:, :bits].astype(bool)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, len(centres), count)
        codes = np.empty((count, bits // 8), dtype=np.uint8)
        for start in range(0, count, 1_000_000):  # bounded temporaries
            part = slice(start, start + 1_000_000)
            noise = rng.random((len(labels[part]), bits), dtype=np.float32) < flip
            codes[part] = np.packbits(centres[labels[part]] ^ noise, axis=1)
        return codes, labels

    codes, labels = draw(size)
    ids = np.char.add("clip", np.char.zfill(np.arange(size).astype("U9"), 8))
    save_codes(out, CodeSet(codes=codes, bits=bits, labels=labels, ids=ids))
    query_codes, query_labels = draw(QUERIES)
    query_ids = np.char.add("query", np.arange(QUERIES).astype("U4"))
    save_codes(
        out.with_suffix(".queries.npz"),
        CodeSet(codes=query_codes, bits=bits, labels=query_labels, ids=query_ids),
    )


def exact_distances(database: Path, out: Path) -> None:
    """The true top-10 distances of every query (a flat scan), for recall."""
    import faiss

    from vrt.codes import load_codes

    codes, queries = load_codes(database), load_codes(database.with_suffix(".queries.npz"))
    index = faiss.IndexBinaryFlat(codes.bits)
    index.add(np.ascontiguousarray(codes.codes))
    distances, _ = index.search(queries.codes, TOPK)
    np.save(out, distances)


# -- one kind, in processes of its own -------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: that one survives fork and exec,
    so a child would report its parent's peak when that is larger."""
    return _status_mib("self", "VmHWM")


def build(kind: str, database: Path, target: str) -> dict[str, float]:
    from vrt.codes import load_codes
    from vrt.index import HammingIndex

    codeset = load_codes(database)
    started = time.perf_counter()
    if kind == "milvus":
        from vrt.index.milvus import MilvusIndex

        MilvusIndex.create(codeset, target, replace=True).close()
    else:
        HammingIndex.build(codeset, kind=kind).save(target)
    return {"build_s": time.perf_counter() - started, "build_peak_rss_mib": peak_rss_mib()}


def measure(kind: str, database: Path, target: str, exact: Path) -> dict[str, float]:
    import faiss

    from vrt.codes import load_codes
    from vrt.index import load_index

    queries = load_codes(database.with_suffix(".queries.npz")).codes
    started = time.perf_counter()
    index = load_index(target)
    result: dict[str, float] = {"load_s": time.perf_counter() - started, "loaded_rss_mib": peak_rss_mib()}
    index.search(queries[:10], TOPK)  # warm-up: lazy structures, caches
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        started = time.perf_counter()
        parts = [index.search(queries[start : start + 100], TOPK) for start in range(0, len(queries), 100)]
        result[f"qps_{threads}"] = len(queries) / (time.perf_counter() - started)
        if kind == "milvus":  # one client; the server's threads are its own
            break
    distances = np.concatenate([found for found, _ in parts])
    positions = np.concatenate([where for _, where in parts])
    true = np.load(exact)
    result["recall_at_10"] = float(((distances <= true[:, -1:]) & (positions >= 0)).mean())
    result["exact"] = bool(index.exact)
    return result


def run_kind(kind: str, database: Path, work: Path, exact: Path, *, keep: bool) -> dict[str, float]:
    """Build and measure ``kind`` over ``database``; the index file is kept if ``keep`` (for serve)."""
    store = work / "milvus"
    if kind == "milvus":
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir()
        target = f"milvus://{store / 'vectors.db'}/bench"
    else:
        target = str(work / f"{database.stem}.{kind}.index.npz")
    built = _child("build", kind, database, target)
    measured = _child("measure", kind, database, target, exact)
    if kind == "milvus":  # milvus-lite keeps its data in files beside the .db
        size = sum(path.stat().st_size for path in store.rglob("*") if path.is_file())
        shutil.rmtree(store)
    else:
        size = Path(target).stat().st_size
        if not keep:
            Path(target).unlink()
    return {**built, **measured, "file_mib": size / 2**20}


def _child(step: str, *arguments: object) -> dict[str, float]:
    command = [sys.executable, __file__, "--step", step, *map(str, arguments)]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "2"}
    )
    if done.returncode != 0:
        raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- vrt serve on the large index --------------------------------------------------------------------


def serve_latency(index: Path, work: Path, bits: int) -> dict[str, float]:
    """p50/p99 of id searches against `vrt serve` (127.0.0.1 only; a model of the index's code
    length is needed to start it: an untrained one, allowed with --force)."""
    import httpx

    checkpoint = work / f"untrained{bits}.pt"
    if not checkpoint.exists():
        _untrained_checkpoint(checkpoint, bits)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "vrt", "serve", "--index", str(index), "--checkpoint", str(checkpoint), "--port",
         str(port), "--force"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"vrt serve ended: {process.communicate()[1][-2000:]}")
            try:
                if httpx.get(f"{url}/api/info", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        ready = time.perf_counter() - started
        rng = np.random.default_rng(1)
        ids = [f"clip{number:08d}" for number in rng.integers(0, 10_000_000, 520)]
        latencies = []
        with httpx.Client(timeout=60) as client:
            for number, item_id in enumerate(ids):
                sent = time.perf_counter()
                response = client.get(f"{url}/api/search", params={"id": item_id, "k": TOPK})
                response.raise_for_status()
                if number >= 20:
                    latencies.append(time.perf_counter() - sent)
        rss = _status_mib(process.pid, "VmRSS")
    finally:
        process.terminate()
        process.communicate(timeout=60)
    return {
        "serve_ready_s": ready,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
        "serve_rss_mib": rss,
    }


def _status_mib(pid: int | str, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _untrained_checkpoint(path: Path, bits: int) -> None:
    import torch

    from vrt.checkpoints.format import save_checkpoint
    from vrt.config import config_from_dict, config_to_dict
    from vrt.model import build_model

    config = config_from_dict(
        {
            "name": "untrained",
            "model": {"backbone": {"name": "tiny3d", "width": 8}, "head": {"name": "linear", "bits": bits}},
            "data": {"dataset": {"name": "synthetic"}, "num_frames": 4, "frame_size": 32},
        }
    )
    torch.manual_seed(0)
    model = build_model(config.model, load_pretrained=False)
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(config), "epoch": 0})


# -- the run -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "runs/index_scale")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--shapes", nargs="+", default=["centres", "real"], choices=["centres", "real"])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="codes file of a trained model")
    parser.add_argument("--skip", nargs="*", default=["hnsw@10000000"], help="KIND@SIZE pairs not measured")
    parser.add_argument("--no-serve", action="store_true")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.step:  # a child process: one step of one kind
        step = {"build": build, "measure": measure}[args.step]
        kind, database, target, *more = rest
        print(json.dumps(step(kind, Path(database), target, *map(Path, more))))
        return
    args.output.mkdir(parents=True, exist_ok=True)
    results = args.output / "results.jsonl"
    done = (
        {(r["shape"], r["size"], r["kind"]) for r in map(json.loads, results.read_text().splitlines())}
        if results.exists()
        else set()
    )
    for size in [] if args.table_only else args.sizes:
        for shape in args.shapes:
            database = args.output / f"{shape}-{size}.npz"
            if not database.exists():
                make_database(shape, size, database, real=args.real)
            exact = args.output / f"{shape}-{size}.exact.npy"
            if not exact.exists():
                exact_distances(database, exact)
            for kind in args.kinds:
                if (shape, size, kind) in done or f"{kind}@{size}" in args.skip:
                    continue
                if kind == "milvus" and size > MILVUS_LIMIT:
                    continue
                print(f"{shape} {size:,} {kind}", file=sys.stderr, flush=True)
                serve = (
                    kind in ("flat", "ivf")
                    and size >= 10_000_000
                    and shape == "centres"
                    and not args.no_serve
                )
                measured = run_kind(kind, database, args.output, exact, keep=serve)
                if serve:
                    index_file = args.output / f"{database.stem}.{kind}.index.npz"
                    measured.update(serve_latency(index_file, args.output, 64))
                    index_file.unlink()
                record = {"shape": shape, "size": size, "kind": kind, **measured}
                with results.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(f"  {json.dumps(record)}", file=sys.stderr, flush=True)
    print(table(results, machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"))


def table(results: Path, *, machine: str) -> str:
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    header = ("database", "codes", "kind", "build (s)", "peak RSS, build (MiB)", "file (MiB)", "load (s)",
              "peak RSS, load + search (MiB)", "queries/s, 1 thread", "queries/s, 2 threads", "x flat (1 thread)",
              "recall@10", "serve p50 / p99 (ms)")  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "| --- | ---: | --- |" + " ---: |" * (len(header) - 3)]
    flat = {(r["shape"], r["size"]): r["qps_1"] for r in rows if r["kind"] == "flat"}
    for r in sorted(rows, key=lambda r: (r["shape"], r["size"], KINDS.index(r["kind"]))):
        speedup = (
            r["qps_1"] / flat[(r["shape"], r["size"])] if (r["shape"], r["size"]) in flat else float("nan")
        )
        serve = f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}" if "p50_ms" in r else ""
        two = f"{r['qps_2']:,.0f}" if "qps_2" in r else "(one client)"
        lines.append(
            f"| {r['shape']} | {r['size']:,} | {r['kind']} | {r['build_s']:.1f} | {r['build_peak_rss_mib']:,.0f} | "
            f"{r['file_mib']:,.0f} | {r['load_s']:.2f} | {r['loaded_rss_mib']:,.0f} | {r['qps_1']:,.0f} | {two} | "
            f"{speedup:,.1f} | {r['recall_at_10']:.3f} | {serve} |"
        )
    return f"Machine: {machine}\n\n" + "\n".join(lines)


if __name__ == "__main__":
    main()

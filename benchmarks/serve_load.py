"""`vrt serve` under load: concurrent clients searching by id and uploading videos, and its memory
over a long run. Traffic goes only to 127.0.0.1, bounded in count (``--searches``, ``--uploads``,
``--soak``) and time (every request has a timeout; the whole run a deadline).

The collection is encoded and indexed once (``vrt encode``, ``vrt index build``), then
``vrt serve`` runs in a process of its own with its defaults (an upload queue of 32). For each
level of concurrency (1, 8, 32, 128 clients, each a thread with its own keep-alive connection)
the clients first share ``--searches`` id searches, then ``--uploads`` uploads of the
collection's own clips. A 503 is counted apart from the other errors, and its message is
checked. Then ``--soak`` mixed requests (one upload in ten) from 8 clients, with the server's
resident memory (VmRSS) read after the first 1,000 and after the last.

    python benchmarks/realmotion.py --out data/realmotion
    python benchmarks/frame_encoders.py --data data/realmotion --output runs/frame_encoders/realmotion
    python benchmarks/serve_load.py --videos data/realmotion/UCF-101 \\
        --checkpoint runs/frame_encoders/realmotion/tiny3d/seed0/best.pt
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
LEVELS = (1, 8, 32, 128)
TIMEOUT_S = 120.0


@dataclass
class Tally:
    """What the clients of one phase saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    busy_messages: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)  # connection errors, timeouts
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, status: int, body: bytes) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] += 1
            if status == 503:
                self.busy_messages.add(json.loads(body)["detail"][:40])


def multipart(path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), boundary


def run_phase(port: int, clients: int, requests: list[tuple[str, str, bytes | None, str]]) -> Tally:
    """``requests`` (method, path, body, boundary) shared out among ``clients`` threads."""
    tally = Tally()
    cursor = iter(range(len(requests)))
    take = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        while True:
            with take:
                index = next(cursor, None)
            if index is None:
                break
            method, path, body, boundary = requests[index]
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"} if body else {}
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                tally.add(time.perf_counter() - started, response.status, data)
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as error:
                with tally.lock:
                    tally.failures.append(f"{type(error).__name__}: {error}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally.seconds = time.perf_counter() - started
    return tally


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def vrt(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "vrt", *args], capture_output=True, text=True, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise SystemExit(f"vrt {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def row(name: str, clients: int, tally: Tally) -> str:
    done = len(tally.latencies)
    p50, p99 = (np.percentile(tally.latencies, [50, 99]) * 1000) if done else (float("nan"),) * 2
    ok = tally.statuses.get(200, 0)
    busy = tally.statuses.get(503, 0)
    others = sum(count for status, count in tally.statuses.items() if status not in (200, 503))
    others += len(tally.failures)
    return (
        f"| {name} | {clients} | {done + len(tally.failures)} | {done / tally.seconds:.1f} | "
        f"{p50:.0f} | {p99:.0f} | {ok} | {busy} | {others} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--searches", type=int, default=2000, help="id searches per level")
    parser.add_argument("--uploads", type=int, default=256, help="uploads per level")
    parser.add_argument("--soak", type=int, default=10_000, help="mixed requests of the memory run")
    parser.add_argument("--deadline", type=float, default=3600.0, help="seconds for the whole run")
    args = parser.parse_args()
    args.videos, args.checkpoint = (
        args.videos.resolve(),
        args.checkpoint.resolve(),
    )  # the server runs elsewhere
    os.environ.setdefault("PYTHONPATH", str(REPO_ROOT))
    deadline = time.monotonic() + args.deadline
    from vrt.codes import load_codes

    with tempfile.TemporaryDirectory() as work:
        codes, index = Path(work) / "codes.npz", Path(work) / "videos.index.npz"
        vrt("encode", "--checkpoint", str(args.checkpoint), "--videos", str(args.videos), "--out", str(codes))
        vrt("index", "build", "--codes", str(codes), "--out", str(index))
        ids = load_codes(codes).ids.tolist()
        rng = np.random.default_rng(0)
        clips = [args.videos / item_id for item_id in rng.choice(ids, size=64, replace=False)]
        bodies = [multipart(clip) for clip in clips]
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "vrt", "serve", "--index", str(index), "--checkpoint", str(args.checkpoint),
             "--videos", str(args.videos), "--port", str(port)],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        try:
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"vrt serve exited: {server.stderr.read()[-3000:]}")
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/api/info")
                    break
                except OSError:
                    time.sleep(0.2)

            def searches(count: int) -> list:
                return [("GET", f"/api/search?id={quote(ids[i % len(ids)], safe='')}&k=10", None, "")
                        for i in rng.permutation(count)]  # fmt: skip

            def uploads(count: int) -> list:
                return [("POST", "/api/search?k=10", *bodies[i % len(bodies)]) for i in range(count)]

            print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
                  f"{len(ids)} indexed clips; server and clients on the same machine.\n")  # fmt: skip
            print("| requests | clients | sent | answered/s | p50 ms | p99 ms | 200 | 503 | other errors |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            busy_messages: set[str] = set()
            for clients in LEVELS:
                for name, batch in (
                    ("id search", searches(args.searches)),
                    ("upload", uploads(args.uploads)),
                ):
                    if time.monotonic() > deadline:
                        raise SystemExit("the run passed its --deadline")
                    tally = run_phase(port, clients, batch)
                    busy_messages |= tally.busy_messages
                    print(row(name, clients, tally), flush=True)
            soak_searches, soak_uploads = searches(args.soak), uploads(args.soak // 10)
            mixed = [soak_uploads.pop() if i % 10 == 9 else soak_searches.pop() for i in range(args.soak)]
            first = run_phase(port, 8, mixed[:1000])
            after_first = rss_mib(server.pid)
            rest = run_phase(port, 8, mixed[1000:])
            after_all = rss_mib(server.pid)
            print()
            print(row("mixed (1 upload in 10), first 1,000", 8, first))
            print(row(f"mixed (1 upload in 10), the other {len(mixed) - 1000:,}", 8, rest))
            print(f"\nServer RSS after the first 1,000 mixed requests: {after_first:.0f} MiB; after all "
                  f"{len(mixed):,}: {after_all:.0f} MiB ({(after_all / after_first - 1) * 100:+.1f}%).")  # fmt: skip
            if busy_messages:
                print(f"503 messages began: {sorted(busy_messages)}")
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()

"""`vrt encode` with one process and with two (torchrun), side by side in one run, several rounds.

Every round encodes the same collection (realmotion's 1,000 clips, ``benchmarks/realmotion.py``)
once with ``vrt encode`` and once with ``torchrun --nproc_per_node 2 -m vrt encode``, in
alternating order, each with vrt's defaults (decoding workers beside each encoding process), and
checks that the two codes files are the same. Each command is timed as a whole process (start,
model load, listing, encoding, writing; for torchrun also the shards' merge).

    python benchmarks/realmotion.py --out data/realmotion
    python benchmarks/frame_encoders.py --data data/realmotion --output runs/frame_encoders/realmotion
    python benchmarks/encode_processes.py --videos data/realmotion/UCF-101 \\
        --checkpoint runs/frame_encoders/realmotion/tiny3d/seed0/best.pt
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env={**os.environ})
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from vrt.codes import load_codes

    encode = ["-m", "vrt", "encode", "--checkpoint", str(args.checkpoint), "--videos", str(args.videos)]
    runs: dict[str, list[float]] = {"1 process": [], "2 processes (torchrun)": []}
    count = 0
    with tempfile.TemporaryDirectory() as work:
        for round_number in range(args.rounds):
            order = list(runs) if round_number % 2 == 0 else list(reversed(runs))
            outs = {}
            for name in order:
                out = Path(work) / f"{round_number}-{name.split()[0]}.npz"
                launcher = [sys.executable] if name == "1 process" else [
                    sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]  # fmt: skip
                runs[name].append(timed([*launcher, *encode, "--out", str(out)]))
                outs[name] = load_codes(out)
            one, two = outs.values()
            assert one.ids.tolist() == two.ids.tolist() and np.array_equal(one.codes, two.codes), (
                "codes differ"
            )
            count = len(one)
            print(
                f"round {round_number + 1}: " + ", ".join(f"{n} {runs[n][-1]:.1f} s" for n in runs),
                file=sys.stderr,
            )
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {count} videos, "
          f"{args.rounds} rounds; the two codes files were identical in every round.\n")  # fmt: skip
    print("| processes | seconds (mean ± sd) | videos/s | per round (s) |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in runs.items():
        mean = statistics.mean(seconds)
        spread = statistics.stdev(seconds) if len(seconds) > 1 else 0.0
        per_round = ", ".join(f"{value:.1f}" for value in seconds)
        print(f"| {name} | {mean:.1f} ± {spread:.1f} | {count / mean:.1f} | {per_round} |")


if __name__ == "__main__":
    main()

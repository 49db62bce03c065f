"""When loading a batch's clips in threads pays: one load thread against several, per storage.

Builds the UCF101-like corpus of ``loader_throughput.py --preset ucf101`` (24 MPEG-4 videos of
320x240, their frames at full size and at the clips' short side), then times ``ClipView``
batches with ``load_threads: 1`` and ``load_threads: N``, the two taking turns and swapping
places every round, under each torch intra-op thread count asked for. The ratio is the median
of the rounds' ratios. Prints markdown.

    python benchmarks/load_threads.py --rounds 20 --torch-threads 1 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from loader_throughput import build_corpus, new_view

from vrt.datasets.base import ClipView
from vrt.datasets.clips import ClipSpec


def clips_per_second(view: ClipView, *, batch_size: int, passes: int) -> float:
    start = time.perf_counter()
    for _ in range(passes):
        for first in range(0, len(view), batch_size):
            view.__getitems__(list(range(first, min(first + batch_size, len(view)))))
    return passes * len(view) / (time.perf_counter() - start)


def compare(one: ClipView, many: ClipView, *, rounds: int, batch_size: int, passes: int) -> tuple:
    """(median clips/s with one thread, with many, median of the rounds' ratios, min, max)."""
    for view in (one, many):  # warm-up: listings, probes and the page cache
        clips_per_second(view, batch_size=batch_size, passes=1)
    rates: dict[int, list[float]] = {0: [], 1: []}
    for turn in range(rounds):
        for side in (0, 1) if turn % 2 == 0 else (1, 0):
            view = (one, many)[side]
            rates[side].append(clips_per_second(view, batch_size=batch_size, passes=passes))
    ratios = [b / a for a, b in zip(rates[0], rates[1], strict=True)]
    return (
        statistics.median(rates[0]),
        statistics.median(rates[1]),
        statistics.median(ratios),
        min(ratios),
        max(ratios),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="load threads against one")
    parser.add_argument("--torch-threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--passes", type=int, default=2, help="passes over the corpus per measurement")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    spec = ClipSpec(num_frames=16, frame_size=112)
    short = spec.resize_short
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vrt-load-threads-") as tmp:
        root = Path(tmp)
        build_corpus(root, videos=24, frames=175, size=(320, 240), codec="mpeg4", short_side=short)
        names = sorted(video.name for video in (root / "videos").iterdir())
        storages = {
            "video (MPEG-4, 320x240)": (root / "videos", "video"),
            "frames (JPEG, 320x240)": (root / "frames", "frames"),
            f"frames (JPEG, short side {short})": (root / f"frames_{short}", "frames"),
        }
        for torch_threads in args.torch_threads:
            torch.set_num_threads(torch_threads)
            for label, (folder, storage) in storages.items():
                one, many = (new_view(folder, storage, names, spec, threads=n) for n in (1, args.threads))
                measured = compare(
                    one, many, rounds=args.rounds, batch_size=args.batch_size, passes=args.passes
                )
                rows.append((label, torch_threads, *measured))
    load_after = os.getloadavg()
    print(
        f"24 videos of 175 frames, clips of 16x112x112, test transform, batch {args.batch_size}, "
        f"{args.passes} passes per measurement, {args.rounds} rounds; {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print()
    print(
        f"| storage | torch threads | clips/s, 1 load thread | clips/s, {args.threads} load threads "
        "| × (median of rounds) | min–max |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for label, torch_threads, one, many, ratio, low, high in rows:
        print(f"| {label} | {torch_threads} | {one:.1f} | {many:.1f} | {ratio:.2f} | {low:.2f}–{high:.2f} |")


if __name__ == "__main__":
    main()

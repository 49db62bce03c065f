"""Which checkpoint the demo keeps when validation mAP ties: the first such epoch (the old rule) or
the later one (the rule now), side by side over several seeds.

For every seed, the demo config is trained twice: once as vrt trains, and once with the old rule
patched into the runner (``improves`` that keeps the earlier epoch on a tie). Each run's
``best.pt`` and the first run's ``last.pt`` are evaluated on the test split with ``vrt eval``.

    python benchmarks/model_selection.py --output runs/model_selection --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = REPO_ROOT / "configs" / "demo_synthetic.yaml"
# Trains in a child process with the runner's tie rule replaced by the old one.
OLD_RULE = """
import sys
import vrt.training.runner as runner
runner.improves = lambda score, best: score > best  # a tie keeps the earlier epoch
from vrt.cli import main
sys.argv = ["vrt", *sys.argv[1:]]
main()
"""


def train(output: Path, seed: int, *, old_rule: bool) -> None:
    args = ["train", str(CONFIG), "--output", str(output), "--set", f"train.seed={seed}"]
    command = [sys.executable, "-c", OLD_RULE, *args] if old_rule else [sys.executable, "-m", "vrt", *args]
    subprocess.run(command, check=True, cwd=REPO_ROOT, capture_output=True)


def test_map(checkpoint: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "vrt", "eval", "--checkpoint", str(checkpoint), "--json"],
        check=True, cwd=REPO_ROOT, capture_output=True, text=True,
    )  # fmt: skip
    return float(json.loads(done.stdout.strip().splitlines()[-1])["map"])


def kept_epoch(run: Path) -> int:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return int(json.loads(lines[-1])["best_epoch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "runs" / "model_selection")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print("| seed | old rule: epoch kept | its test mAP | now: epoch kept | its test mAP | last.pt |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for seed in args.seeds:
        now, old = args.output / f"now-seed{seed}", args.output / f"old-seed{seed}"
        for run, old_rule in ((now, False), (old, True)):
            if not (run / "results.json").is_file():
                train(run, seed, old_rule=old_rule)
        print(
            f"| {seed} | {kept_epoch(old)} | {test_map(old / 'best.pt'):.4f} | {kept_epoch(now)} | "
            f"{test_map(now / 'best.pt'):.4f} | {test_map(now / 'last.pt'):.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

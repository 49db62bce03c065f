"""Loss comparison on the synthetic data: test mAP of every loss config at 32 and 64 bits.

Trains each ``configs/synthetic_*_32bit.yaml`` (plus a triplet + regularisers variant defined
below) at every requested code length and seed through :class:`vrt.training.runner.Runner`, collects the
test-split mAP (test queries against the training database, the checkpoint chosen on
validation) and prints a markdown table for ``docs/``.

    python benchmarks/loss_comparison.py                           # 32 and 64 bits, seed 0
    python benchmarks/loss_comparison.py --seeds 0 1 2 --json out.json
    python benchmarks/loss_comparison.py --only csq dpsh --set train.epochs=10   # a quick look

The 64-bit runs are the 32-bit configs with ``model.head.bits=64``; margins given in distance
units that grow with the code length are scaled with it (the triplet margin, ~bits/4, doubles).
The contrastive margin, HashNet's slope and CSQ's centres follow ``bits`` on their own.
Runs go to a temporary folder unless ``--output`` keeps them.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from vrt.config import config_from_dict
from vrt.config.loader import apply_override, read_config_dict
from vrt.training.runner import Runner

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = REPO_ROOT / "configs"
BASE_BITS = 32

# Losses whose `margin` is in squared-distance units, which scale linearly with the code length.
MARGIN_SCALES_WITH_BITS = {"triplet_ranking"}

# Variants not worth a config file of their own: (label, config to start from, loss section).
EXTRA_VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "triplet_regularized",
        "synthetic_triplet_ranking_32bit.yaml",
        {
            "terms": [
                {"name": "triplet_ranking", "margin": 8.0},
                {"name": "quantization", "weight": 0.1},
                {"name": "bit_balance", "weight": 0.01},
            ]
        },
    ),
]


@dataclass(frozen=True)
class Variant:
    label: str
    raw: dict[str, Any]  # the 32-bit config as plain data, _base_ merged


def variants(only: list[str] | None) -> list[Variant]:
    found = []
    for path in sorted(CONFIGS.glob(f"synthetic_*_{BASE_BITS}bit.yaml")):
        label = path.stem.removeprefix("synthetic_").removesuffix(f"_{BASE_BITS}bit")
        found.append(Variant(label, read_config_dict(path)))
    for label, base, loss in EXTRA_VARIANTS:
        raw = read_config_dict(CONFIGS / base)
        raw["loss"] = copy.deepcopy(loss)
        raw["name"] = f"synthetic_{label}_{BASE_BITS}bit"
        found.append(Variant(label, raw))
    if only:
        unknown = sorted(set(only) - {v.label for v in found})
        if unknown:
            raise SystemExit(f"unknown variant(s) {unknown}; available: {', '.join(v.label for v in found)}")
        found = [v for v in found if v.label in only]
    return found


def loss_terms(raw: dict[str, Any]) -> list[dict[str, Any]]:
    loss = raw.get("loss", {})
    if isinstance(loss, str):
        raw["loss"] = loss = {"name": loss}
    return loss["terms"] if "terms" in loss else [loss]


def describe_loss(raw: dict[str, Any]) -> str:
    parts = []
    for term in loss_terms(raw):
        params = ", ".join(f"{k}={v}" for k, v in term.items() if k not in ("name", "weight"))
        weight = f"{term['weight']} × " if "weight" in term else ""
        parts.append(f"{weight}`{term['name']}`" + (f" ({params})" if params else ""))
    return " + ".join(parts)


def at_bits(raw: dict[str, Any], bits: int, *, seed: int, overrides: list[str]) -> dict[str, Any]:
    """The variant's config at ``bits`` and ``seed``, with the user's ``--set`` overrides last."""
    raw = copy.deepcopy(raw)
    apply_override(raw, f"model.head.bits={bits}")
    apply_override(raw, f"train.seed={seed}")
    for term in loss_terms(raw):
        if term["name"] in MARGIN_SCALES_WITH_BITS and "margin" in term:
            term["margin"] = float(term["margin"]) * bits / BASE_BITS
    raw["name"] = str(raw.get("name", "run")).replace(f"_{BASE_BITS}bit", f"_{bits}bit")
    for override in overrides:
        apply_override(raw, override, source="--set")
    return raw


def run_all(
    chosen: list[Variant],
    *,
    bits: list[int],
    seeds: list[int],
    overrides: list[str],
    output: Path,
    quiet: bool,
) -> Iterator[dict[str, Any]]:
    console = Console(stderr=True, quiet=quiet)
    announce = Console(stderr=True, soft_wrap=True)
    for variant in chosen:
        for code_bits in bits:
            for seed in seeds:
                raw = at_bits(variant.raw, code_bits, seed=seed, overrides=overrides)
                config = config_from_dict(raw, source=f"{variant.label} at {code_bits} bits")
                run_dir = output / variant.label / f"{code_bits}bit" / f"seed{seed}"
                announce.print(f"[bold]{variant.label}[/] {code_bits} bits, seed {seed} -> {run_dir}")
                started = time.perf_counter()
                report = Runner(config, run_dir, console=console).fit().report
                yield {
                    "variant": variant.label,
                    "loss": describe_loss(raw),
                    "bits": code_bits,
                    "seed": seed,
                    "map": report.map,
                    f"map@{report.topk}": report.map_at_k,
                    "seconds": time.perf_counter() - started,
                    "epochs": config.train.epochs,
                    "device": str(config.train.device),
                }


def summarise(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def markdown_table(results: list[dict[str, Any]], *, bits: list[int], seeds: list[int]) -> str:
    labels = list(dict.fromkeys(r["variant"] for r in results))
    header = "| variant | loss | " + " | ".join(f"mAP {b} bits" for b in bits) + " | minutes |"
    lines = [header, "| --- | --- | " + " | ".join("---:" for _ in bits) + " | ---: |"]
    for label in labels:
        rows = [r for r in results if r["variant"] == label]
        cells = [summarise([r["map"] for r in rows if r["bits"] == b]) for b in bits]
        minutes = sum(r["seconds"] for r in rows) / 60
        lines.append(f"| {label} | {rows[0]['loss']} | " + " | ".join(cells) + f" | {minutes:.1f} |")
    first = results[0]
    seed_text = (
        f"seed {seeds[0]}" if len(seeds) == 1 else f"mean ± std over seeds {', '.join(map(str, seeds))}"
    )
    note = (
        f"\nSynthetic data, `tiny3d` + `linear` head, {first['epochs']} epochs, device {first['device']}; "
        f"test-split tie-aware mAP of the checkpoint chosen on the validation tie-aware mAP; {seed_text}; "
        f"loss parameters as at {BASE_BITS} bits (triplet margins scale with the code length). "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}.\n"
    )
    return "\n".join(lines) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bits", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", help="variant labels (e.g. csq triplet_ranking)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", type=Path, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write every run's result to this file")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args()

    chosen = variants(args.only)
    with tempfile.TemporaryDirectory(prefix="vrt-loss-comparison-") as scratch:
        output = args.output or Path(scratch)
        results = list(
            run_all(
                chosen,
                bits=args.bits,
                seeds=args.seeds,
                overrides=args.overrides,
                output=output,
                quiet=args.quiet,
            )
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown_table(results, bits=args.bits, seeds=args.seeds), end="")


if __name__ == "__main__":
    main()

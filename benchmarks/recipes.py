"""Training recipes side by side on real footage: the realmotion benchmark (benchmarks/realmotion.py).

Every variant trains the same backbone (``tiny3d``) on the same clips for the same number of
epochs; only the recipe differs: the loss (and miner), the code length, the optimiser and its
schedule, the batch sampler. Each runs with several seeds, and the table gives the mean ± std of
the test-split mAP (test queries against the training database, the checkpoint chosen on
validation), through ``vrt report``'s grouping of runs that differ only in their seed.

    python benchmarks/realmotion.py --out data/realmotion          # the data, once (~1 minute)
    python benchmarks/recipes.py --group losses --seeds 0 1 2      # every loss, one table
    python benchmarks/recipes.py --group defaults --seeds 0 1 2    # default-recipe candidates
    python benchmarks/recipes.py --only ce_48 --seeds 0 --set train.epochs=2    # a quick look

Runs are kept under ``--output`` (default ``runs/recipes``); a run whose ``results.json`` exists
is not trained again, so an interrupted benchmark continues where it stopped and a table can be
re-printed at no cost. The flip augmentation is off: realmotion's classes include pan left and
pan right, which a mirrored clip would swap (docs/datasets.md, "Augmentation").
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from vrt.config import apply_override, config_from_dict
from vrt.config.loader import read_config_dict
from vrt.reporting.runs import MetricSummary, group_runs, read_run
from vrt.training.runner import Runner

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = REPO_ROOT / "configs"

#: What the benchmark fixes for every variant: backbone, data, clip size, epochs, device.
BENCHMARK: dict[str, Any] = {
    "model": {"backbone": {"name": "tiny3d", "width": 16}},
    "data": {
        "dataset": {"name": "ucf101", "split": 1},  # root and annotations from --data
        "num_frames": 8,
        "frame_size": 56,  # from 64x64 videos: short side 64 (= 56 * 128 / 112), random crops
        "augment": {"flip": False},
        "val_fraction": 0.15,
        "eval_batch_size": 64,
        "num_workers": 0,
    },
    "train": {"epochs": 20, "val_every": 4, "device": "cpu", "amp": False},
    "eval": {"topk": 100},
}

#: The keys a recipe decides; everything else comes from BENCHMARK.
RECIPE_KEYS = (
    "loss",
    "model.head",
    "data.batch",
    "train.optimizer",
    "train.scheduler",
    "train.grad_clip",
    "train.warmup_epochs",
)

ADAM = {
    "train.optimizer": {"name": "adam", "lr": 0.002, "weight_decay": 0.0},
    "train.scheduler": {"name": "cosine"},
}
BALANCED = {"data.batch": {"sampler": "class_balanced", "classes_per_batch": 8, "videos_per_class": 4}}
OLD_REFERENCE = {
    "loss": {"name": "triplet_ranking", "margin": 14.0, "miner": "all"},
    "train.optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005},
    "train.scheduler": {"name": "cosine"},
    "train.grad_clip": 10.0,
    "train.warmup_epochs": 0,
}


@dataclass(frozen=True)
class Variant:
    label: str
    group: str
    description: str
    source: str | None = None  # a config file whose recipe keys are taken first
    recipe: dict[str, Any] = field(default_factory=dict)  # recipe keys set on top (dotted paths)


def triplet(margin: float, miner: str = "all") -> dict[str, Any]:
    return {"name": "triplet_ranking", "margin": margin, "miner": miner}


def with_classification(loss: dict[str, Any], weight: float = 1.0) -> dict[str, Any]:
    return {"terms": [loss, {"name": "classification", "weight": weight}]}


def with_centres(loss: dict[str, Any], weight: float) -> dict[str, Any]:
    return {"terms": [loss, {"name": "csq", "weight": weight}]}


def loss_variant(
    label: str, description: str, loss: dict[str, Any], *, bits: int = 48, group: str = "losses"
) -> Variant:
    """A loss inside one shared recipe: Adam, cosine schedule, P x K batches."""
    recipe = {"model.head": {"name": "linear", "bits": bits}, **ADAM, **BALANCED, "loss": loss}
    return Variant(label, group, description, recipe=recipe)


def demo_variant(label: str, description: str, **recipe: Any) -> Variant:
    """configs/demo_synthetic.yaml's recipe (32 bits, Adam), changed by ``recipe``."""
    return Variant(label, "defaults", description, "demo_synthetic.yaml", _dotted(recipe))


def reference_variant(label: str, description: str, **recipe: Any) -> Variant:
    """configs/ucf101_48bit.yaml's recipe (48 bits, P x K batches), changed by ``recipe``."""
    return Variant(label, "defaults", description, "ucf101_48bit.yaml", _dotted(recipe))


def old_reference_variant(label: str, description: str, **recipe: Any) -> Variant:
    """The reference configs' recipe before this benchmark chose a new one (triplet ranking, margin
    14, SGD with gradient clipping), changed by ``recipe``: pinned here, so that these rows mean
    the same whatever configs/ucf101_48bit.yaml says now."""
    return reference_variant(label, description, **{**_undotted(OLD_REFERENCE), **recipe})


def _undotted(recipe: dict[str, Any]) -> dict[str, Any]:
    return {key.replace(".", "__"): value for key, value in recipe.items()}


def _dotted(recipe: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("__", "."): value for key, value in recipe.items()}


# fmt: off
VARIANTS: list[Variant] = [
    # Every registered loss (and miner), inside one recipe.
    loss_variant("triplet_all", "`triplet_ranking` (margin 14), all triplets", triplet(14.0)),
    loss_variant("triplet_batch_hard", "`triplet_ranking` (margin 14), `batch_hard` miner", triplet(14.0, "batch_hard")),
    loss_variant("triplet_semihard", "`triplet_ranking` (margin 14), `semihard` miner", triplet(14.0, "semihard")),
    loss_variant("triplet_regularised", "`triplet_ranking` + 0.1 `quantization` + 0.01 `bit_balance`",
                 {"terms": [triplet(14.0), {"name": "quantization", "weight": 0.1},
                            {"name": "bit_balance", "weight": 0.01}]}),
    loss_variant("contrastive", "`contrastive`", {"name": "contrastive"}),
    loss_variant("dpsh", "`dpsh`", {"name": "dpsh"}),
    loss_variant("hashnet", "`hashnet`", {"name": "hashnet"}),
    loss_variant("csq", "`csq` (hash centres)", {"name": "csq"}),
    loss_variant("ce_48", "cross-entropy baseline: `classification` alone (a linear classifier on the codes)",
                 {"name": "classification"}),
    # The default recipes before and after, the candidates measured to choose them, and the
    # cross-entropy baseline at the demo's code length. Rows marked "probe" ran with one seed.
    loss_variant("ce_32", "cross-entropy baseline at 32 bits", {"name": "classification"}, bits=32, group="defaults"),
    demo_variant("demo_before", "demo recipe before (32 bits, triplet margin 8, Adam)", loss=triplet(8.0)),
    demo_variant("demo_cls", "demo recipe before + `classification` term", loss=with_classification(triplet(8.0))),
    demo_variant("demo_cls_warmup", "demo recipe before + `classification` term + 2 warmup epochs",
                 loss=with_classification(triplet(8.0)), train__warmup_epochs=2),
    demo_variant("demo_csq", "demo recipe before + 10 x `csq` term", loss=with_centres(triplet(8.0), 10.0)),
    demo_variant("demo_centres", "**demo recipe now**: `csq` (hash centres) in place of the triplet loss",
                 loss={"name": "csq"}),
    old_reference_variant("reference_before", "reference recipe before (48 bits, triplet margin 14, SGD)"),
    old_reference_variant("reference_active", "probe: reference before, hinge averaged over violated triplets",
                          loss={**triplet(14.0), "reduction": "mean_active"}),
    old_reference_variant("reference_mlp", "probe: reference before with the `mlp` head",
                          model__head={"name": "mlp", "bits": 48, "hidden": 256}),
    old_reference_variant("reference_margin48", "probe: reference before, margin 48", loss=triplet(48.0)),
    old_reference_variant("reference_margin96", "probe: reference before, margin 96", loss=triplet(96.0)),
    old_reference_variant("reference_csq", "reference before + 10 x `csq` term", loss=with_centres(triplet(14.0), 10.0)),
    old_reference_variant("reference_csq200", "probe: reference before + 200 x `csq` term",
                          loss=with_centres(triplet(14.0), 200.0)),
    old_reference_variant("reference_csq50_adam", "reference before + 50 x `csq` term, Adam 0.002, no clipping",
                          loss=with_centres(triplet(14.0), 50.0), train__grad_clip=None, **_undotted(ADAM)),
    old_reference_variant("reference_csq200_adam", "**reference recipe now**: + 200 x `csq` term, Adam 0.002, no clipping",
                          loss=with_centres(triplet(14.0), 200.0), train__grad_clip=None, **_undotted(ADAM)),
]
# fmt: on


def variants(groups: list[str] | None, only: list[str] | None) -> list[Variant]:
    chosen = [v for v in VARIANTS if (not groups or v.group in groups) and (not only or v.label in only)]
    unknown = sorted(set(only or ()) - {v.label for v in VARIANTS})
    if unknown or not chosen:
        raise SystemExit(f"no such variant {unknown}; available: {', '.join(v.label for v in VARIANTS)}")
    return chosen


def _get(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        raw = raw.setdefault(part, {})
    raw[last] = copy.deepcopy(value)


def variant_config(variant: Variant, *, data: Path, seed: int, overrides: list[str]) -> dict[str, Any]:
    """The benchmark's settings, the variant's recipe, the seed, then the user's ``--set``s."""
    raw = copy.deepcopy(BENCHMARK)
    if variant.source is not None:
        source = read_config_dict(CONFIGS / variant.source)
        for key in RECIPE_KEYS:
            if (value := _get(source, key)) is not None:
                _set(raw, key, value)
    for key, value in variant.recipe.items():
        _set(raw, key, value)
    raw["data"]["dataset"] |= {"root": str(data / "UCF-101"), "annotations": str(data / "ucfTrainTestlist")}
    raw["train"]["seed"] = seed
    raw["name"] = f"realmotion_{variant.label}"
    for override in overrides:
        apply_override(raw, override, source="--set")
    return raw


def train_all(
    chosen: list[Variant], *, data: Path, seeds: list[int], overrides: list[str], output: Path, quiet: bool
) -> None:
    console = Console(stderr=True, quiet=quiet)
    announce = Console(stderr=True, soft_wrap=True)
    for variant in chosen:
        for seed in seeds:
            run_dir = output / variant.label / f"seed{seed}"
            if (run_dir / "results.json").is_file():
                continue
            if run_dir.exists():  # an interrupted attempt: its checkpoints are resumable
                resume = (run_dir / "last.pt").is_file()
            else:
                resume = False
            config = config_from_dict(
                variant_config(variant, data=data, seed=seed, overrides=overrides), source=variant.label
            )
            announce.print(f"[bold]{variant.label}[/] seed {seed} -> {run_dir}")
            started = time.perf_counter()
            Runner(config, run_dir, console=console).fit(resume=resume)
            announce.print(f"  {time.perf_counter() - started:.0f} s")


COLUMNS = (
    ("mAP", "map"),
    ("mAP (db order)", "map_database_order"),
    ("mAP@100", "map_at_k"),
    ("P@100", "precision_at_k"),
    ("distinct codes", "unique_codes"),
)


def _cell(summary: MetricSummary | None) -> str:
    if summary is None:
        return "-"
    return f"{summary.mean:.3f}" + ("" if summary.std is None else f" ± {summary.std:.3f}")


def table(chosen: list[Variant], *, seeds: list[int], output: Path) -> str:
    """One row per variant: mean ± std over its seeds (``vrt report``'s grouping of the kept runs)."""
    header = ["variant", "recipe", "seeds", *(name for name, _ in COLUMNS), "mAP per seed"]
    lines = ["| " + " | ".join(header) + " |", "| --- | --- |" + " ---: |" * (len(header) - 2)]
    for variant in chosen:
        done = [
            run
            for seed in seeds
            if (run := output / variant.label / f"seed{seed}" / "results.json").is_file()
        ]
        if not done:
            continue
        groups = group_runs([read_run(run.parent) for run in done])
        if len(groups) != 1:
            raise SystemExit(
                f"{variant.label}: its runs differ in more than the seed; remove {output / variant.label}"
            )
        group = groups[0]
        cells = [variant.label, variant.description, str(len(group.runs))]
        cells += [_cell(group.summary(field)) for _, field in COLUMNS]
        # Each seed's own figure too: a mean above a baseline can hide a seed below it.
        cells.append(", ".join("-" if run.map is None else f"{run.map:.3f}" for run in group.runs))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO_ROOT / "data" / "realmotion",
        help="the benchmark built by benchmarks/realmotion.py",
    )
    parser.add_argument("--group", nargs="+", choices=sorted({v.group for v in VARIANTS}))
    parser.add_argument("--only", nargs="+", help="variant labels")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "runs" / "recipes")
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of the runs kept, train none"
    )
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args()
    if not (args.data / "ucfTrainTestlist").is_dir():
        raise SystemExit(
            f"{args.data} holds no benchmark: run python benchmarks/realmotion.py --out {args.data}"
        )
    chosen = variants(args.group, args.only)
    if not args.table_only:
        train_all(
            chosen,
            data=args.data,
            seeds=args.seeds,
            overrides=args.overrides,
            output=args.output,
            quiet=args.quiet,
        )
    print(table(chosen, seeds=args.seeds, output=args.output))
    print(
        f"\ntorch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads; command: python {' '.join(sys.argv)}"
    )


if __name__ == "__main__":
    main()

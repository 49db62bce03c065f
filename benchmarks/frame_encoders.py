"""Pretrained frame encoders, training without labels and the classic baselines, side by side on real footage.

Every row makes 48-bit codes of the same benchmark (built by ``benchmarks/realmotion.py``: real
photographs, or with ``--source footage`` real H.264 videos, filmed by a moving camera; a class is
a picture x a camera motion, a source is one "recording", a group ``gGG``), and the test clips
query the training clips:

* ``tiny3d``: tiny3d trained from scratch with the best recipe measured (``csq``, Adam 0.002,
  cosine, P x K batches, 20 epochs, the checkpoint chosen on a 15% validation split:
  ``benchmarks/recipes.py``'s ``csq`` row).
* ``frozen``: EfficientNet-Lite0 (ImageNet, frozen) per frame, its features extracted once
  (``vrt features extract``), then a temporal convolution and a hash head trained on the
  feature file with ``csq``.
* ``frozen_motion``: the frozen encoder on two frames of each clip, beside a small motion stream
  over the frame differences trained from scratch, with ``csq`` (``configs/realmotion_efficientnet_lite0.yaml``
  with ``train_encoder: false``), every training clip, the last of 10 epochs.
* ``finetuned_motion``: the same with the encoder fine-tuned.
* ``conmh``, ``bth``, ``conmh_neighbourhood``: no labels: the self-supervised objectives on the
  frozen features (the labels in the file are never read; the checkpoint is chosen on the
  validation loss).
* ``clip_contrast``: no labels: ``frozen_motion``'s model (the frozen encoder and the motion
  stream, on the clips' pixels) trained with ``clip_contrast`` on shuffled batches, the labels
  never read; ``clip_contrast_forward`` the same without the clips played backwards among the
  negatives.
* ``itq``, ``lsh``: no training: ITQ and LSH fitted on the pooled frozen features.
* ``random``: random codes (chance).

Every row reports class mAP and source mAP (tie-aware; source: the other clips of the query's
recording, the query left out), the share of distinct database codes, how often a test clip's
nearest training code has the right picture and the right motion (ties shared), and the wall
time of the commands that made its codes, each timed as a whole process: the feature extraction
is counted in every row that uses the features. Each row runs with every ``--seeds`` seed.

    python benchmarks/realmotion.py --out data/realmotion
    python benchmarks/frame_encoders.py --data data/realmotion --output runs/frame_encoders/realmotion
    python benchmarks/realmotion.py --source footage --out data/realfootage
    python benchmarks/frame_encoders.py --data data/realfootage --output runs/frame_encoders/realfootage

A row whose codes exist is not made again (its recorded time is reused), so an interrupted
benchmark continues where it stopped; ``--table-only`` prints the table of what is there.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vrt.codes import CodeSet, load_codes, save_codes, unpack_bits

REPO_ROOT = Path(__file__).resolve().parent.parent
VRT = [sys.executable, "-m", "vrt"]
BITS = 48
MOTIONS = ("PanLeft", "PanRight", "ZoomIn", "ZoomOut", "PanUp", "PanDown")

# What every trained row shares: the benchmark's clips (8 frames of 56 pixels, no flip: pan left
# and pan right would swap), the schedule, the code length, the CPU.
DATA = {
    "num_frames": 8,
    "frame_size": 56,
    "augment": {"flip": False},
    "eval_batch_size": 64,
    "num_workers": 1,
}
ADAM = {"optimizer": {"name": "adam", "lr": 0.002, "weight_decay": 0.0}, "scheduler": {"name": "cosine"}}
BALANCED = {"sampler": "class_balanced", "classes_per_batch": 8, "videos_per_class": 4}
# The objective without labels measured best (a sweep on realmotion, docs/benchmarks.md): ConMH's
# masked-frame reconstruction and contrast, plus the in-batch neighbourhood term at weight 10.
CONMH_NEIGHBOURHOOD = {"terms": [{"name": "conmh"}, {"name": "neighbourhood", "weight": 10.0}]}
EXTRACTOR = {
    "name": "frames",
    "encoder": {"name": "efficientnet_lite0", "pretrained": "imagenet"},
    "temporal": "mean",
    "image_size": 112,
}


def video_dataset(data: Path) -> dict[str, Any]:
    return {
        "name": "ucf101",
        "split": 1,
        "root": str(data / "UCF-101"),
        "annotations": str(data / "ucfTrainTestlist"),
    }


def tiny3d_config(data: Path, seed: int) -> dict[str, Any]:
    """``benchmarks/recipes.py``'s ``csq`` recipe: its 15% validation split picks the checkpoint."""
    return {
        "name": "tiny3d",
        "model": {"backbone": {"name": "tiny3d", "width": 16}, "head": {"name": "linear", "bits": BITS}},
        "loss": {"name": "csq"},
        "data": {
            **DATA,
            "dataset": video_dataset(data),
            "val_fraction": 0.15,
            "batch": BALANCED,
        },
        "train": {"epochs": 20, "val_every": 4, "seed": seed, "device": "cpu", "amp": False, **ADAM},
        "eval": {"topk": 100},
    }


def motion_config(
    data: Path, seed: int, *, finetune: bool, name: str | None = None, loss: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``configs/realmotion_efficientnet_lite0.yaml`` on ``data``; with ``loss``, an objective
    without labels in place of ``csq``, on shuffled batches of 32 (the labels are never read)."""
    raw = yaml.safe_load((REPO_ROOT / "configs" / "realmotion_efficientnet_lite0.yaml").read_text())
    raw["data"]["dataset"] = video_dataset(data)
    raw["data"]["num_workers"] = DATA["num_workers"]
    raw["train"]["seed"] = seed
    raw["model"]["backbone"]["train_encoder"] = finetune
    raw["name"] = name or ("finetuned_motion" if finetune else "frozen_motion")
    if loss is not None:
        raw["loss"] = loss
        raw["data"]["batch"] = {"sampler": "shuffle", "batch_size": 32}
    return raw


def features_config(
    features: Path, seed: int, *, name: str, loss: dict[str, Any], labels: bool
) -> dict[str, Any]:
    """A model trained on the frozen features: with labels, a temporal convolution and the hash
    head (Adam 0.002); without, a Transformer over the frames (Adam 0.0005), the best of the
    temporal modules and rates tried for the self-supervised objectives."""
    temporal = {"name": "tconv", "width": 256} if labels else {"name": "transformer", "width": 256}
    optimizer = ADAM if labels else {**ADAM, "optimizer": {**ADAM["optimizer"], "lr": 0.0005}}
    return {
        "name": name,
        "model": {
            "backbone": {"name": "frame_features", "dim": 1280, "temporal": temporal},
            "head": {"name": "linear", "bits": BITS},
        },
        "loss": loss,
        "data": {
            "dataset": {
                "name": "features",
                "train": str(features / "train.h5"),
                "test": str(features / "test.h5"),
            },
            "num_frames": DATA["num_frames"],
            "val_fraction": 0.15,
            "num_workers": 0,
            "eval_batch_size": 256,
            "batch": BALANCED if labels else {"sampler": "shuffle", "batch_size": 64},
        },
        # With labels the validation mAP peaks within a few epochs on these 700 clips (then overfits).
        "train": {
            "epochs": 12 if labels else 40,
            "val_every": 2 if labels else 4,
            "seed": seed,
            "device": "cpu",
            "amp": False,
            **optimizer,
        },  # fmt: skip
        "eval": {"topk": 100},
    }


@dataclass(frozen=True)
class Row:
    label: str
    description: str
    labels: bool  # whether training read the labels
    make: Callable[[Path, Path, int, Path], float]  # (data, features, seed, run dir) -> seconds


def run(command: list[str], *, log: Path) -> float:
    """Run a vrt command (its output to ``log``); its wall time in seconds."""
    started = time.perf_counter()
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}; see {log}")
    return time.perf_counter() - started


def train(config: dict[str, Any], run_dir: Path) -> float:
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return run(
        [*VRT, "train", str(path), "--output", str(run_dir)], log=run_dir.parent / f"{run_dir.name}.log"
    )


def extract(data: Path, features: Path) -> float:
    """The frozen features of both splits, once; returns (and records) the seconds it took."""
    timing = features / "extraction.json"
    if timing.is_file():
        return float(json.loads(timing.read_text())["seconds"])
    features.mkdir(parents=True, exist_ok=True)
    config = {
        "name": "extractor",
        "model": {"backbone": EXTRACTOR, "head": {"name": "linear", "bits": BITS}},
        "data": {**DATA, "dataset": video_dataset(data), "eval_batch_size": 32},
        "train": {"device": "cpu"},
    }
    path = features / "extractor.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    seconds = 0.0
    for split in ("train", "test"):
        out = features / f"{split}.h5"
        out.unlink(missing_ok=True)
        command = [*VRT, "features", "extract", "--config", str(path), "--split", split, "--out", str(out)]
        seconds += run(command, log=features / "extraction.log")
    timing.write_text(json.dumps({"seconds": seconds}))
    return seconds


def make_tiny3d(data: Path, features: Path, seed: int, run_dir: Path) -> float:
    return train(tiny3d_config(data, seed), run_dir)


def make_motion(
    finetune: bool, *, name: str | None = None, loss: dict[str, Any] | None = None
) -> Callable[[Path, Path, int, Path], float]:
    def make(data: Path, features: Path, seed: int, run_dir: Path) -> float:
        return train(motion_config(data, seed, finetune=finetune, name=name, loss=loss), run_dir)

    return make


def make_on_features(
    name: str, loss: dict[str, Any], *, labels: bool
) -> Callable[[Path, Path, int, Path], float]:
    def make(data: Path, features: Path, seed: int, run_dir: Path) -> float:
        seconds = extract(data, features)
        config = features_config(features, seed, name=name, loss=loss, labels=labels)
        return seconds + train(config, run_dir)

    return make


def make_hashed(method: str) -> Callable[[Path, Path, int, Path], float]:
    def make(data: Path, features: Path, seed: int, run_dir: Path) -> float:
        seconds = extract(data, features)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        command = [
            *VRT, "features", "hash", str(features / "train.h5"), str(features / "test.h5"),
            "--method", method, "--bits", str(BITS), "--seed", str(seed), "--output", str(run_dir),
        ]  # fmt: skip
        return seconds + run(command, log=run_dir.parent / f"{run_dir.name}.log")

    return make


def make_random(data: Path, features: Path, seed: int, run_dir: Path) -> float:
    """Random codes for the items of the frozen features' files (ids, labels and groups kept)."""
    extract(data, features)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for split in ("train", "test"):
        from vrt.io.feature_files import open_feature_file

        file = open_feature_file(features / f"{split}.h5")
        codes = CodeSet.from_bits(
            rng.random((len(file), BITS)) < 0.5,
            labels=file.labels,
            ids=file.ids,
            class_names=file.class_names,
            groups=file.groups,
        )
        save_codes(run_dir / f"codes_{split}.npz", codes)
    return time.perf_counter() - started


ROWS = (
    Row("tiny3d", "tiny3d from scratch, `csq` (the best recipe measured)", True, make_tiny3d),
    Row("frozen", "EfficientNet-Lite0 frozen, features extracted once; tconv + `csq` on them", True,
        make_on_features("frozen", {"name": "csq"}, labels=True)),
    Row("frozen_motion", "EfficientNet-Lite0 frozen (2 frames) + motion stream, `csq`", True, make_motion(False)),
    Row("finetuned_motion", "EfficientNet-Lite0 fine-tuned (2 frames) + motion stream, `csq`", True,
        make_motion(True)),
    Row("conmh", "no labels: `conmh` on the frozen features", False,
        make_on_features("conmh", {"name": "conmh"}, labels=False)),
    Row("bth", "no labels: `bth` on the frozen features", False, make_on_features("bth", {"name": "bth"}, labels=False)),
    Row("conmh_neighbourhood", "no labels: `conmh` + `neighbourhood` on the frozen features", False,
        make_on_features("conmh_neighbourhood", CONMH_NEIGHBOURHOOD, labels=False)),
    Row("clip_contrast", "no labels: EfficientNet-Lite0 frozen (2 frames) + motion stream, `clip_contrast`",
        False, make_motion(False, name="clip_contrast", loss={"name": "clip_contrast"})),
    Row("clip_contrast_forward", "the same, the clips played backwards not among the negatives", False,
        make_motion(False, name="clip_contrast_forward",
                    loss={"name": "clip_contrast", "reversed_negatives": False})),
    Row("itq", "no training: ITQ on the pooled frozen features", False, make_hashed("itq")),
    Row("lsh", "no training: LSH on the pooled frozen features", False, make_hashed("lsh")),
    Row("random", "random codes", False, make_random),
)  # fmt: skip


def split_class(name: str) -> tuple[str, str]:
    """(picture, motion) of a class name such as ``AstronautPanLeft``."""
    motion = next(m for m in MOTIONS if name.endswith(m))
    return name[: -len(motion)], motion


def nearest_agreement(query: CodeSet, database: CodeSet) -> tuple[float, float]:
    """The share of queries whose nearest database codes have the right picture, and the right
    motion (over the codes at the smallest distance: ties shared, not broken by storage order)."""
    names = query.class_names or database.class_names
    assert names is not None
    parts = [split_class(name) for name in names]
    database_bits = unpack_bits(database.codes)[:, : database.bits].astype(np.int16)
    picture = motion = 0.0
    for bits, label in zip(
        unpack_bits(query.codes)[:, : query.bits].astype(np.int16), query.labels, strict=True
    ):
        distance = np.count_nonzero(database_bits != bits, axis=1)
        nearest = database.labels[distance == distance.min()]
        picture += np.mean([parts[other][0] == parts[label][0] for other in nearest])
        motion += np.mean([parts[other][1] == parts[label][1] for other in nearest])
    return picture / len(query), motion / len(query)


def measure(run_dir: Path) -> dict[str, float]:
    """Class and source relevance from ``vrt eval`` of the run's codes files, and the nearest codes."""
    command = [
        *VRT, "eval", "--query", str(run_dir / "codes_test.npz"), "--database", str(run_dir / "codes_train.npz"),
        "--topk", "100", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    metrics = json.loads(done.stdout.strip().splitlines()[-1])
    query, database = load_codes(run_dir / "codes_test.npz"), load_codes(run_dir / "codes_train.npz")
    picture, motion = nearest_agreement(query, database)
    return {
        "class_map": metrics["map"],
        "source_map": metrics["source"]["map"],
        "distinct": metrics["code_stats"]["database"]["unique_fraction"],
        "picture": picture,
        "motion": motion,
    }


def make_all(rows: list[Row], *, data: Path, seeds: list[int], output: Path) -> None:
    features = output / "features"
    for row in rows:
        for seed in seeds:
            run_dir = output / row.label / f"seed{seed}"
            record = run_dir.parent / f"seed{seed}.json"
            if record.is_file():
                continue
            if run_dir.exists() and not (run_dir / "codes_test.npz").is_file():
                raise SystemExit(f"{run_dir} is an unfinished run: remove it to run it again")
            print(f"{row.label} seed {seed}", file=sys.stderr, flush=True)
            seconds = row.make(data, features, seed, run_dir)
            result = {"seconds": seconds, **measure(run_dir)}
            record.write_text(json.dumps(result))
            print(f"  {json.dumps(result)}", file=sys.stderr, flush=True)


COLUMNS = (
    ("class mAP", "class_map"),
    ("source mAP", "source_map"),
    ("distinct codes", "distinct"),
    ("nearest: picture", "picture"),
    ("nearest: motion", "motion"),
    ("wall time (s)", "seconds"),
)


def table(rows: list[Row], *, seeds: list[int], output: Path) -> str:
    header = ["row", "what", "labels", "seeds", *(name for name, _ in COLUMNS), "class mAP per seed"]
    lines = ["| " + " | ".join(header) + " |", "| --- | --- | --- |" + " ---: |" * (len(header) - 3)]
    for row in rows:
        results = [
            json.loads(path.read_text())
            for seed in seeds
            if (path := output / row.label / f"seed{seed}.json").is_file()
        ]
        if not results:
            continue
        cells = [row.label, row.description, "yes" if row.labels else "no", str(len(results))]
        for _, key in COLUMNS:
            values = [result[key] for result in results]
            digits = 0 if key == "seconds" else 3
            mean = f"{statistics.mean(values):.{digits}f}"
            cells.append(mean if len(values) < 2 else f"{mean} ± {statistics.stdev(values):.{digits}f}")
        cells.append(", ".join(f"{result['class_map']:.3f}" for result in results))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data" / "realmotion")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "runs" / "frame_encoders" / "realmotion")
    parser.add_argument("--only", nargs="+", choices=[row.label for row in ROWS])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of the rows made, make none"
    )
    args = parser.parse_args()
    if not (args.data / "ucfTrainTestlist").is_dir():
        raise SystemExit(
            f"{args.data} holds no benchmark: run python benchmarks/realmotion.py --out {args.data}"
        )
    rows = [row for row in ROWS if args.only is None or row.label in args.only]
    if not args.table_only:
        make_all(rows, data=args.data.resolve(), seeds=args.seeds, output=args.output.resolve())
    print(table(rows, seeds=args.seeds, output=args.output.resolve()))
    print(f"\n{platform.processor() or platform.machine()}; command: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()

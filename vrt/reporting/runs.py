"""One row per configuration of runs, in the style of the reference results tables (``vrt report``).

A run directory is what ``vrt train`` writes: ``config.yaml`` (the resolved config) and, once
trained, ``results.json`` (test-split metrics). ``eval/results.json``, written by ``vrt eval --output``
(``eval/metrics.json`` before it), takes precedence for the metrics when present. Runs whose configs differ only in ``train.seed``
(and that report the same K) share a row: each metric is the mean over the seeds with its
sample standard deviation. Reads YAML and JSON only: no torch, no registry.

Files written before the tie-aware headline are read for what they are: a file with
``map_tie_aware`` and no ``map_database_order`` has its tie-aware mAP there and database-order
``map``/``map@K``/``precision@K``; a file with neither has database-order values only.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vrt.errors import VrtError
from vrt.reporting.results import read_metrics
from vrt.rundir import RunDirectory

__all__ = [
    "CSV_METRICS",
    "METRIC_COLUMNS",
    "MetricSummary",
    "RunDirectoryError",
    "RunGroup",
    "RunRow",
    "group_runs",
    "read_run",
    "runs_csv",
    "runs_markdown",
]

DATABASE_ORDER_NOTE = (
    "† ties in database order: the run was evaluated before vrt reported tie-aware mAP@K and P@K."
)


class RunDirectoryError(VrtError):
    """A directory that is not a (finished) vrt run."""


@dataclass(frozen=True)
class RunRow:
    """One run: its settings and metrics (tie-aware unless named ``*_database_order``; None if unknown)."""

    run: str
    dataset: str | None
    split: str | None
    bits: int | None
    margin: float | None
    frames: int | None
    seed: int | None
    map: float | None
    map_database_order: float | None
    map_at_k: float | None
    map_at_k_database_order: float | None
    precision_at_k: float | None
    precision_at_k_database_order: float | None
    unique_codes: float | None  # share of distinct codes in the database
    topk: int | None
    epochs: int | None
    kept_epoch: int | None  # the epoch best.pt holds (model selection's choice), when recorded
    backbone: str | None
    pretrained: str | None
    config_key: str  # the resolved config without train.seed, as canonical JSON


#: (markdown header, RunRow field) of each metric column of the markdown table.
METRIC_COLUMNS = (
    ("mAP", "map"),
    ("mAP (db order)", "map_database_order"),
    ("mAP@K", "map_at_k"),
    ("P@K", "precision_at_k"),
    ("unique codes", "unique_codes"),
)
#: (csv name, RunRow field) of each metric, each followed in the csv by its ``_std`` column.
CSV_METRICS = (
    ("mAP", "map"),
    ("mAP_database_order", "map_database_order"),
    ("mAP@K", "map_at_k"),
    ("mAP@K_database_order", "map_at_k_database_order"),
    ("P@K", "precision_at_k"),
    ("P@K_database_order", "precision_at_k_database_order"),
    ("unique_codes", "unique_codes"),
)
_TEXT_COLUMNS = ("run", "dataset", "split", "backbone", "pretrained")
# Markdown @K cells fall back to the database-order value (marked †) for runs without a tie-aware one.
_FALLBACK = {"map_at_k": "map_at_k_database_order", "precision_at_k": "precision_at_k_database_order"}


def _get(data: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _metrics(run_dir: Path) -> dict[str, Any]:
    """The run's test metrics: those of ``vrt eval --output RUN/eval`` when it wrote any, else
    results.json's (files of every generation: :func:`~vrt.reporting.results.read_metrics`)."""
    paths = RunDirectory(run_dir)
    found = [path for path in paths.eval_results if path.is_file()]
    path = found[0] if found else paths.results
    if not path.is_file():
        raise RunDirectoryError(
            f"{run_dir} has no results.json: the run has not finished (or run `vrt eval --checkpoint "
            f"{run_dir / 'best.pt'} --output {run_dir / 'eval'}`)"
        )
    try:
        return read_metrics(path)
    except (OSError, ValueError) as error:
        raise RunDirectoryError(f"{path}: not readable JSON ({error})") from error


def _kept_epoch(metrics_log: Path) -> int | None:
    """The epoch best.pt holds: the last ``best_epoch`` of metrics.jsonl (None when not recorded)."""
    try:
        lines = metrics_log.read_text(encoding="utf-8").splitlines()
        last = json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return None
    epoch = last.get("best_epoch") if isinstance(last, dict) else None
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


def _topk(metrics: dict[str, Any]) -> int | None:
    ks = [int(key[4:]) for key in metrics if key.startswith("map@") and key[4:].isdigit()]
    return min(ks) if ks else None


def _metric_values(metrics: dict[str, Any], k: int | None) -> dict[str, Any]:
    """Tie-aware and database-order values, whichever generation of file ``metrics`` came from."""
    at_k = {"map_at_k": metrics.get(f"map@{k}"), "precision_at_k": metrics.get(f"precision@{k}")}
    if "map_database_order" in metrics:
        return {
            "map": metrics.get("map"),
            "map_database_order": metrics.get("map_database_order"),
            **at_k,
            "map_at_k_database_order": metrics.get(f"map@{k}_database_order"),
            "precision_at_k_database_order": metrics.get(f"precision@{k}_database_order"),
        }
    # Older files: "map", "map@K" and "precision@K" had ties in database order.
    return {
        "map": metrics.get("map_tie_aware"),
        "map_database_order": metrics.get("map"),
        "map_at_k": None,
        "precision_at_k": None,
        "map_at_k_database_order": at_k["map_at_k"],
        "precision_at_k_database_order": at_k["precision_at_k"],
    }


def read_run(run_dir: str | Path) -> RunRow:
    """The row of one run directory; :class:`RunDirectoryError` if it is not one."""
    run_dir = Path(run_dir)
    config_path = RunDirectory(run_dir).config
    if not run_dir.is_dir():
        raise RunDirectoryError(f"{run_dir} is not a directory")
    if not config_path.is_file():
        raise RunDirectoryError(f"{run_dir} is not a vrt run directory: it has no config.yaml")
    try:
        config = yaml.safe_load(config_path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RunDirectoryError(f"{config_path}: not readable YAML ({error})") from error
    if not isinstance(config, dict):
        raise RunDirectoryError(f"{config_path}: expected a mapping")
    metrics = _metrics(run_dir)
    k = _topk(metrics)
    pretrained = _get(config, "model.backbone.pretrained")
    split = _get(config, "data.dataset.split")
    unseeded = json.loads(json.dumps(config, default=str))  # a deep copy that always serialises
    if isinstance(unseeded.get("train"), dict):
        unseeded["train"].pop("seed", None)
    return RunRow(
        run=str(run_dir),
        dataset=_get(config, "data.dataset.name"),
        split=None if split is None else str(split),
        bits=_get(config, "model.head.bits"),
        margin=_get(config, "loss.margin"),
        frames=_get(config, "data.num_frames"),
        seed=_get(config, "train.seed"),
        **_metric_values(metrics, k),
        unique_codes=_get(metrics, "code_stats.database.unique_fraction"),
        topk=k,
        epochs=_get(config, "train.epochs"),
        kept_epoch=_kept_epoch(RunDirectory(run_dir).metrics),
        backbone=_get(config, "model.backbone.name"),
        pretrained="no" if pretrained in (None, False, "") else str(pretrained),
        config_key=json.dumps(unseeded, sort_keys=True),
    )


@dataclass(frozen=True)
class MetricSummary:
    """Mean, sample standard deviation (None for one value) and number of the runs' values."""

    mean: float
    std: float | None
    count: int


@dataclass(frozen=True)
class RunGroup:
    """Runs of one configuration that differ only in ``train.seed``, in the order given."""

    runs: tuple[RunRow, ...]

    @property
    def first(self) -> RunRow:
        return self.runs[0]

    def summary(self, field: str) -> MetricSummary | None:
        """The metric ``field`` over the runs that have it; None when none has."""
        values = [getattr(run, field) for run in self.runs if getattr(run, field) is not None]
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else None
        return MetricSummary(mean=statistics.fmean(values), std=std, count=len(values))


def group_runs(rows: Sequence[RunRow]) -> list[RunGroup]:
    """Rows grouped by configuration (without ``train.seed``) and K, groups in order of appearance."""
    groups: dict[tuple[str, int | None], list[RunRow]] = {}
    for row in rows:
        groups.setdefault((row.config_key, row.topk), []).append(row)
    return [RunGroup(tuple(members)) for members in groups.values()]


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _formatted(summary: MetricSummary | None, *, runs: int) -> str:
    if summary is None:
        return "-"
    text = f"{summary.mean:.4f}"
    if summary.std is not None:
        text += f" ± {summary.std:.4f}"
    return text + (f" ({summary.count} of {runs})" if summary.count < runs else "")


def _metric_cell(group: RunGroup, field: str, *, mixed_k: bool) -> tuple[str, bool]:
    """A markdown metric cell, and whether it fell back to database order."""
    summary, fell_back = group.summary(field), False
    if summary is None and field in _FALLBACK:
        summary = group.summary(_FALLBACK[field])
        fell_back = summary is not None
    text = _formatted(summary, runs=len(group.runs))
    if field in _FALLBACK and mixed_k and summary is not None:
        text += f" (K={group.first.topk})"
    return text + (" †" if fell_back else ""), fell_back


def _headers(groups: Sequence[RunGroup]) -> list[str]:
    ks = {group.first.topk for group in groups if group.first.topk is not None}
    k = str(ks.pop()) if len(ks) == 1 else "K"
    metrics = [header.replace("@K", f"@{k}") for header, _ in METRIC_COLUMNS]
    return ["run", "dataset", "split", "bits", "margin", "frames", "seeds", *metrics, "epochs", "epoch kept", "backbone", "pretrained"]  # fmt: skip


def runs_markdown(rows: Sequence[RunRow]) -> str:
    """A markdown table, one row per configuration; mean ± std over seeds (sample std, n - 1).

    mAP@K and P@K name their K, or say it per cell when the rows differ.
    """
    groups = group_runs(rows)
    headers = _headers(groups)
    mixed_k = "mAP@K" in headers
    align = ["---" if header in _TEXT_COLUMNS else "---:" for header in headers]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    any_fallback = False
    for group in groups:
        first = group.first
        metric_cells = []
        for _, field in METRIC_COLUMNS:
            text, fell_back = _metric_cell(group, field, mixed_k=mixed_k)
            metric_cells.append(text)
            any_fallback |= fell_back
        cells = [
            ", ".join(run.run for run in group.runs),
            *map(_plain, (first.dataset, first.split, first.bits, first.margin, first.frames)),
            str(len(group.runs)),
            *metric_cells,
            _plain(first.epochs),
            ", ".join(_plain(run.kept_epoch) for run in group.runs),
            *map(_plain, (first.backbone, first.pretrained)),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    if any_fallback:
        lines += ["", DATABASE_ORDER_NOTE]
    return "\n".join(lines) + "\n"


def runs_csv(rows: Sequence[RunRow]) -> str:
    """Unformatted values (empty when unknown), one row per configuration, for spreadsheets.

    Each metric has a mean column and a ``_std`` column (empty for one seed); no fallback: the
    tie-aware columns stay empty for runs evaluated before vrt reported them.
    """
    headers = ["run", "dataset", "split", "bits", "margin", "frames", "seeds", "seed_values"]
    headers += [column for name, _ in CSV_METRICS for column in (name, f"{name}_std")]
    headers += ["K", "epochs", "epoch_kept", "backbone", "pretrained"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for group in group_runs(rows):
        first = group.first
        values: list[Any] = [
            ";".join(run.run for run in group.runs),
            first.dataset,
            first.split,
            first.bits,
            first.margin,
            first.frames,
            len(group.runs),
            ";".join(_plain(run.seed) for run in group.runs),
        ]
        for _, field in CSV_METRICS:
            summary = group.summary(field)
            values += [None, None] if summary is None else [summary.mean, summary.std]
        kept = ";".join("" if run.kept_epoch is None else str(run.kept_epoch) for run in group.runs)
        values += [first.topk, first.epochs, kept, first.backbone, first.pretrained]
        writer.writerow(["" if value is None else value for value in values])
    return buffer.getvalue()

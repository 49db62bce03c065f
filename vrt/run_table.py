"""One row per run directory, in the style of the reference results tables (``vrt report``).

A run directory is what ``vrt train`` writes: ``config.yaml`` (the resolved config) and, once
trained, ``results.json`` (test-split metrics). ``eval/metrics.json``, written by ``vrt eval``,
takes precedence for the metrics when present (it has the tie-aware mAP, which older
``results.json`` files lack). Reads YAML and JSON only: no torch, no registry.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vrt.errors import VrtError

__all__ = ["COLUMNS", "RunRow", "RunDirectoryError", "read_run", "runs_csv", "runs_markdown"]


class RunDirectoryError(VrtError):
    """A directory that is not a (finished) vrt run."""


@dataclass(frozen=True)
class RunRow:
    run: str
    dataset: str | None
    split: str | None
    bits: int | None
    margin: float | None
    frames: int | None
    map: float | None
    map_at_k: float | None
    precision_at_k: float | None
    map_tie_aware: float | None
    topk: int | None
    epochs: int | None
    backbone: str | None
    pretrained: str | None


COLUMNS = (
    "run",
    "dataset",
    "split",
    "bits",
    "margin",
    "frames",
    "mAP",
    "mAP@K",
    "P@K",
    "tie-aware mAP",
    "epochs",
    "backbone",
    "pretrained",
)


def _get(data: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RunDirectoryError(f"{path}: not readable JSON ({error})") from error
    if not isinstance(data, dict):
        raise RunDirectoryError(f"{path}: expected a JSON object")
    return data


def _metrics(run_dir: Path) -> dict[str, Any]:
    """The run's test metrics: eval/metrics.json's when ``vrt eval`` wrote one, else results.json's."""
    evaluated = run_dir / "eval" / "metrics.json"
    if evaluated.is_file():
        return dict(_read_json(evaluated).get("metrics", {}))
    results = run_dir / "results.json"
    if not results.is_file():
        raise RunDirectoryError(
            f"{run_dir} has no results.json: the run has not finished (or run `vrt eval --checkpoint "
            f"{run_dir / 'best.pt'}`)"
        )
    return _read_json(results)


def _topk(metrics: dict[str, Any]) -> int | None:
    ks = [int(key[4:]) for key in metrics if key.startswith("map@") and key[4:].isdigit()]
    return min(ks) if ks else None


def read_run(run_dir: str | Path) -> RunRow:
    """The table row of one run directory; :class:`RunDirectoryError` if it is not one."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise RunDirectoryError(f"{run_dir} is not a directory")
    if not config_path.is_file():
        raise RunDirectoryError(f"{run_dir} is not a vrt run directory: it has no config.yaml")
    try:
        config = yaml.safe_load(config_path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RunDirectoryError(f"{config_path}: not readable YAML ({error})") from error
    metrics = _metrics(run_dir)
    k = _topk(metrics)
    pretrained = _get(config, "model.backbone.pretrained")
    split = _get(config, "data.dataset.split")
    return RunRow(
        run=str(run_dir),
        dataset=_get(config, "data.dataset.name"),
        split=None if split is None else str(split),
        bits=_get(config, "model.head.bits"),
        margin=_get(config, "loss.margin"),
        frames=_get(config, "data.num_frames"),
        map=metrics.get("map"),
        map_at_k=metrics.get(f"map@{k}"),
        precision_at_k=metrics.get(f"precision@{k}"),
        map_tie_aware=metrics.get("map_tie_aware"),
        topk=k,
        epochs=_get(config, "train.epochs"),
        backbone=_get(config, "model.backbone.name"),
        pretrained="no" if pretrained in (None, False, "") else str(pretrained),
    )


def _headers(rows: Sequence[RunRow]) -> list[str]:
    ks = {row.topk for row in rows if row.topk is not None}
    k = str(ks.pop()) if len(ks) == 1 else "K"
    return [name.replace("@K", f"@{k}") for name in COLUMNS]


def _cells(row: RunRow, *, mixed_k: bool) -> list[str]:
    def number(value: float | None, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def at_k(value: float | None) -> str:
        text = number(value)
        return f"{text} (K={row.topk})" if mixed_k and value is not None else text

    def plain(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:g}" if isinstance(value, float) else str(value)

    return [
        row.run,
        plain(row.dataset),
        plain(row.split),
        plain(row.bits),
        plain(row.margin),
        plain(row.frames),
        number(row.map),
        at_k(row.map_at_k),
        at_k(row.precision_at_k),
        number(row.map_tie_aware),
        plain(row.epochs),
        plain(row.backbone),
        plain(row.pretrained),
    ]


def runs_markdown(rows: Sequence[RunRow]) -> str:
    """A markdown table; mAP@K and P@K name their K, or say it per cell when runs differ."""
    headers = _headers(rows)
    cells = [_cells(row, mixed_k="mAP@K" in headers) for row in rows]
    numeric = {"bits", "margin", "frames", "epochs"} | {
        h for h in headers if "mAP" in h or h.startswith("P@")
    }
    align = ["---:" if header in numeric else "---" for header in headers]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def runs_csv(rows: Sequence[RunRow]) -> str:
    """Unformatted values (empty when unknown), with K in its own column, for spreadsheets."""
    headers = [*COLUMNS[:10], "K", *COLUMNS[10:]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        values = [
            row.run,
            row.dataset,
            row.split,
            row.bits,
            row.margin,
            row.frames,
            row.map,
            row.map_at_k,
            row.precision_at_k,
            row.map_tie_aware,
            row.topk,
            row.epochs,
            row.backbone,
            row.pretrained,
        ]
        writer.writerow(["" if value is None else value for value in values])
    return buffer.getvalue()

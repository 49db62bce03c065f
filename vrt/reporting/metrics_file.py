"""What ``vrt eval`` writes into its output directory: ``metrics.json`` and the plots.

``metrics.json`` holds every metric together with the protocol that produced it: which query
and database sets (and their sizes and hashes), the metric definitions by name and version, and
the checkpoint's and the config's hashes when a model was evaluated, so that a number can be
traced back and reproduced. The schema is described in ``docs/metrics.md``. numpy only.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from vrt import __version__
from vrt.codes import CodeSet
from vrt.metrics import METRIC_DEFINITIONS, METRIC_DEFINITIONS_VERSION, QueryScores
from vrt.runtime.fileio import atomic_write_text

__all__ = [
    "METRICS_FILE",
    "METRICS_SCHEMA",
    "codes_record",
    "content_sha256",
    "file_sha256",
    "holds_eval_outputs",
    "metrics_record",
    "protocol_record",
    "write_eval_outputs",
]

# 2: "map", "map@K", "precision@K", "recall@K" became tie-aware, the database-order values moved
# to "*_database_order" keys, "map_tie_aware" went, "code_stats" and "warnings" came.
METRICS_SCHEMA = "vrt.eval.metrics/2"
METRICS_FILE = "metrics.json"
PR_CURVE_FILE = "pr_curve.png"
MAP_AT_K_FILE = "map_at_k.png"
# K values of the mAP@K curve stored in metrics.json (the plot has the full curve).
_CURVE_POINTS = 200


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(codes: CodeSet) -> str:
    """A hash of what a code set says (codes, bits, labels, ids), whatever file it came from."""
    digest = hashlib.sha256()
    digest.update(str(codes.bits).encode())
    for array in (codes.codes, codes.labels.astype("<i8")):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\n".join(codes.ids.tolist()).encode())
    return digest.hexdigest()


def codes_record(codes: CodeSet, *, source: str, path: str | Path | None = None) -> dict[str, Any]:
    """One side of the protocol: where the codes came from, their size and hashes."""
    record: dict[str, Any] = {
        "source": source,
        "size": len(codes),
        "bits": codes.bits,
        "classes": int(np.unique(codes.labels).shape[0]),
        "content_sha256": content_sha256(codes),
    }
    if path is not None:
        record["path"] = str(path)
        record["sha256"] = file_sha256(path)
    return record


def protocol_record(
    *,
    query: dict[str, Any],
    database: dict[str, Any],
    topk: int,
    radius: int,
    checkpoint: str | Path | None = None,
    config_hash: str | None = None,
) -> dict[str, Any]:
    """How the numbers were obtained (see ``docs/metrics.md``, "metrics.json")."""
    return {
        "query": query,
        "database": database,
        "topk": topk,
        "radius": radius,
        "metric_definitions": {
            "version": METRIC_DEFINITIONS_VERSION,
            "reference": "docs/metrics.md",
            "definitions": dict(METRIC_DEFINITIONS),
        },
        "checkpoint": None
        if checkpoint is None
        else {"path": str(checkpoint), "sha256": file_sha256(checkpoint)},
        "config_hash": config_hash,
        "vrt_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def checkpoint_protocol(
    trained: Any, query: CodeSet, database: CodeSet, *, topk: int, radius: int
) -> dict[str, Any]:
    """The protocol of a checkpoint's evaluation: its test split (queries) against its train split
    (database), both encoded with the deterministic test-time transform.

    ``trained`` is a :class:`vrt.inference.TrainedModel` (not imported here: this module stays torch-free).
    """
    from vrt.config import config_hash

    return protocol_record(
        query=codes_record(query, source="test split, encoded with test-time transforms"),
        database=codes_record(database, source="train split, encoded with test-time transforms"),
        topk=topk,
        radius=radius,
        checkpoint=trained.checkpoint,
        config_hash=config_hash(trained.config),
    )


def _clean(value: Any) -> Any:
    """NaN becomes None (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(item) for item in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def metrics_record(scores: QueryScores, *, protocol: dict[str, Any]) -> dict[str, Any]:
    """Everything ``metrics.json`` holds, as plain JSON values."""
    from vrt.reporting.plots import log_spaced_ks

    curve = scores.pr_curve()
    record: dict[str, Any] = {
        "schema": METRICS_SCHEMA,
        "metrics": scores.report().to_dict(),
        "per_class": [
            {
                "label": score.label,
                "name": score.name,
                "ap": score.average_precision,
                "ap_database_order": score.average_precision_database_order,
                "num_queries": score.num_queries,
                "num_queries_without_relevant": score.num_queries_without_relevant,
            }
            for score in scores.per_class()
        ],
        "pr_curve": {
            "radius": curve.radius,
            "precision": curve.precision,
            "recall": curve.recall,
            "retrieving": curve.retrieving,
        },
        "protocol": protocol,
    }
    if scores.map_at_k_curve.shape[0]:
        ks = log_spaced_ks(scores.num_database, points=_CURVE_POINTS, include=(scores.topk,))
        # Ties in database order: a tie-aware value for every K would cost a sum per query and K.
        record["map_at_k"] = {"k": ks, "map": scores.map_at_k_curve[ks - 1], "ties": "database order"}
    return _clean(record)


def holds_eval_outputs(folder: str | Path) -> bool:
    """Whether ``folder`` holds what ``vrt eval --output`` writes (a metrics.json of this schema family)."""
    try:
        record = json.loads((Path(folder) / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and str(record.get("schema", "")).startswith("vrt.eval.metrics/")


def write_eval_outputs(
    out_dir: str | Path, scores: QueryScores, *, protocol: dict[str, Any], plots: bool = True
) -> list[Path]:
    """Write ``metrics.json`` (and ``pr_curve.png``, ``map_at_k.png`` unless ``plots=False``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / METRICS_FILE
    text = json.dumps(metrics_record(scores, protocol=protocol), indent=2, allow_nan=False)
    atomic_write_text(path, text + "\n")
    written = [path]
    if plots:
        from vrt.reporting.plots import plot_map_at_k, plot_pr_curve

        written.append(plot_pr_curve(scores.pr_curve(), out_dir / PR_CURVE_FILE, radius=scores.radius))
        if scores.map_at_k_curve.shape[0]:
            written.append(plot_map_at_k(scores.map_at_k_curve, out_dir / MAP_AT_K_FILE, topk=scores.topk))
    return written

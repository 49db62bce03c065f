"""The results file, one format for every evaluation: ``results.json`` and its plots.

Training writes ``RUN/results.json`` (best.pt on the test split) and ``vrt eval --output DIR``
writes ``DIR/results.json``, both from :func:`vrt.inference.evaluation.evaluate`; ``vrt report``
reads them. A results file holds every metric together with the protocol that produced it:
which query and database sets (and their sizes and hashes), the metric definitions by name and
version, and the checkpoint (path, SHA-256, epoch) and the config's hash when a model was
evaluated, so that a number can be traced back and reproduced. The schema is described in
``docs/metrics.md``. Files of the formats before it (``vrt eval``'s ``metrics.json``, a run's
flat ``results.json``) keep loading (:func:`read_metrics`). numpy only.
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
from vrt.runtime.fileio import atomic_write_text, file_sha256

__all__ = [
    "LEGACY_METRICS_FILE",
    "RESULTS_FILE",
    "RESULTS_SCHEMA",
    "codes_record",
    "content_sha256",
    "holds_results",
    "metrics_record",
    "protocol_record",
    "read_metrics",
    "results_record",
    "write_results",
]

# vrt.results/1 is vrt.eval.metrics/2 (vrt eval's metrics.json) under the name every evaluation
# now writes, with the checkpoint's epoch and the unreadable videos in the protocol.
RESULTS_SCHEMA = "vrt.results/1"
RESULTS_FILE = "results.json"
LEGACY_METRICS_FILE = "metrics.json"  # what `vrt eval --output` wrote before results.json
_SCHEMAS = ("vrt.results/", "vrt.eval.metrics/")
PR_CURVE_FILE = "pr_curve.png"
MAP_AT_K_FILE = "map_at_k.png"
# K values of the mAP@K curve stored in results.json (the plot has the full curve).
_CURVE_POINTS = 200


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
    epoch: int | None = None,
    config_hash: str | None = None,
    bad_videos: int | None = None,
    shared_items: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """How the numbers were obtained (see ``docs/metrics.md``, "results.json"). ``shared_items``:
    how many queries are items of the database too, and whether their own items were left out."""
    return {
        "query": query,
        "database": database,
        "topk": topk,
        "radius": radius,
        "shared_items": shared_items or {"count": 0, "left_out": False},
        "metric_definitions": {
            "version": METRIC_DEFINITIONS_VERSION,
            "reference": "docs/metrics.md",
            "definitions": dict(METRIC_DEFINITIONS),
        },
        "checkpoint": None
        if checkpoint is None
        else {"path": str(checkpoint), "sha256": file_sha256(checkpoint), "epoch": epoch},
        "config_hash": config_hash,
        "bad_videos": bad_videos,
        "vrt_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


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


def metrics_record(
    scores: QueryScores, *, source: QueryScores | None = None, shared_items: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The metrics of an evaluation as ``vrt eval --json`` prints them and ``results.json`` keeps
    them: the report's keys (class relevance, or source relevance when the queries have no
    class), under ``source`` the tie-aware source-relevance values beside class ones, and under
    ``shared_items`` how many queries are database items and whether their own were left out."""
    record = scores.report().to_dict()
    if shared_items is not None:
        record["shared_items"] = shared_items
    if source is not None:
        report = source.report()
        k = report.topk_used
        record["source"] = _clean(
            {
                "map": report.map,
                f"map@{k}": report.map_at_k,
                f"precision@{k}": report.precision_at_k,
                f"recall@{k}": report.recall_at_k,
                "num_queries": report.num_queries,
                "num_queries_without_relevant": report.num_queries_without_relevant,
                "num_database": report.num_database,
            }
        )
    return record


def results_record(
    scores: QueryScores,
    *,
    protocol: dict[str, Any],
    source: QueryScores | None = None,
    relevance: str = "class",
) -> dict[str, Any]:
    """Everything a results file holds, as plain JSON values."""
    from vrt.reporting.plots import log_spaced_ks

    curve = scores.pr_curve()
    record: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "relevance": relevance,
        "metrics": metrics_record(scores, source=source, shared_items=protocol.get("shared_items")),
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


def holds_results(folder: str | Path) -> bool:
    """Whether ``folder`` holds what ``vrt eval --output`` writes (a results file of this family)."""
    for name in (RESULTS_FILE, LEGACY_METRICS_FILE):
        try:
            record = json.loads((Path(folder) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and str(record.get("schema", "")).startswith(_SCHEMAS):
            return True
    return False


def read_metrics(path: str | Path) -> dict[str, Any]:
    """The metrics of a results file, whatever its generation: ``results.json``, ``vrt eval``'s
    older ``metrics.json`` (both keep them under ``metrics``), or a run's older flat
    ``results.json`` (the metrics at the top, beside the checkpoint and epoch).

    Raises:
        ValueError: the file is not JSON, or not a JSON object.
    """
    record = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    if str(record.get("schema", "")).startswith(_SCHEMAS):
        return dict(record.get("metrics") or {})
    return record


def write_results(
    out_dir: str | Path,
    scores: QueryScores,
    *,
    protocol: dict[str, Any],
    plots: bool = True,
    source: QueryScores | None = None,
    relevance: str = "class",
) -> list[Path]:
    """Write ``results.json`` (and ``pr_curve.png``, ``map_at_k.png`` unless ``plots=False``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS_FILE
    record = results_record(scores, protocol=protocol, source=source, relevance=relevance)
    text = json.dumps(record, indent=2, allow_nan=False)
    atomic_write_text(path, text + "\n")
    written = [path]
    if plots:
        from vrt.reporting.plots import plot_map_at_k, plot_pr_curve

        written.append(plot_pr_curve(scores.pr_curve(), out_dir / PR_CURVE_FILE, radius=scores.radius))
        if scores.map_at_k_curve.shape[0]:
            written.append(
                plot_map_at_k(scores.map_at_k_curve, out_dir / MAP_AT_K_FILE, topk=scores.topk)
            )  # marks min(K, Ndb)
    return written

"""The lines a run prints after each epoch and after its test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vrt.inference.evaluation import Evaluation


def epoch_line(record: dict[str, Any], *, epochs: int, improved: bool) -> str:
    parts = [
        f"epoch {record['epoch']}/{epochs}",
        f"loss {record['loss']:.4f}",
        f"lr {record['lr']:.3g}",
        f"{record['clips_per_s']:.1f} clips/s",
    ]
    if "data_wait_share" in record:
        parts.append(f"data wait {record['data_wait_share']:.0%}")
    if "val_map" in record:
        parts.append(f"val mAP {record['val_map']:.4f}" + (" (best)" if improved else ""))
    elif "val_loss" in record:  # label-free selection (vrt.training.selection)
        parts.append(f"val loss {record['val_loss']:.4f}" + (" (best)" if improved else ""))
    if "val_unique_codes" in record:
        parts.append(f"{record['val_unique_codes']:.0%} distinct codes")
    return "  ".join(parts)


def test_line(result: Evaluation | None, *, epoch: int, codes: Path, results: Path) -> str:
    """The summary of best.pt's test (None: unlabelled test videos with no source to find)."""
    if result is None:
        return (
            f"Test (best.pt, epoch {epoch}): the test videos have no labels and no two come from one "
            f"source video, so there is nothing to score; their codes are in {codes} (look at their "
            "neighbours with `vrt search`)"
        )
    report = result.report
    relevance = " (relevant: the same source video)" if result.relevance == "source" else ""
    source = f"; source mAP {result.source.report().map:.4f}" if result.source is not None else ""
    return (
        f"Test (best.pt, epoch {epoch}){relevance}: mAP {report.map:.4f}, mAP@{report.k_label} "
        f"{report.map_at_k:.4f}, P@{report.k_label} {report.precision_at_k:.4f}{source}; written to {results}"
    )

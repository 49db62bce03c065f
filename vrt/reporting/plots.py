"""The evaluation plots: precision-recall over Hamming radius, and mAP@K for every K.

matplotlib is imported inside the functions and only its object-oriented API is used (a bare
``Figure`` renders with Agg): no pyplot, no global backend switch, no display needed, and
``vrt eval`` without plots never pays for the import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vrt.metrics import PRCurve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["log_spaced_ks", "plot_map_at_k", "plot_pr_curve", "plot_training_curves"]


def _figure() -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 4.2), dpi=120, layout="constrained")
    return figure


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def plot_pr_curve(curve: PRCurve, path: str | Path, *, radius: int, title: str | None = None) -> Path:
    """Precision against recall, one point per Hamming radius ``0..bits``; ``radius`` is marked."""
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot(
        curve.recall,
        curve.precision,
        marker="o",
        markersize=3,
        linewidth=1.5,
        color="tab:blue",
        label="r = 0..bits",
    )
    bits = int(curve.radius[-1])
    # Label a few radii, skipping points that would crowd labels already placed.
    placed: list[tuple[float, float]] = []
    for r in range(0, bits + 1, max(1, bits // 8)):
        point = (float(curve.recall[r]), float(curve.precision[r]))
        if all(abs(point[0] - x) + abs(point[1] - y) > 0.06 for x, y in placed):
            axes.annotate(f"r={r}", point, textcoords="offset points", xytext=(4, 4), fontsize=7, color="0.3")
            placed.append(point)
    axes.plot(
        curve.recall[radius],
        curve.precision[radius],
        marker="o",
        markersize=7,
        linestyle="none",
        color="tab:red",
        label=f"r = {radius}: precision {curve.precision[radius]:.3f}, recall {curve.recall[radius]:.3f}",
    )
    axes.legend(loc="best", fontsize=8)
    axes.set_xlim(-0.02, 1.06)
    axes.set_ylim(-0.02, 1.08)
    axes.set_xlabel("recall within Hamming radius r")
    axes.set_ylabel("precision within Hamming radius r")
    axes.set_title(title or f"Precision-recall over Hamming radius ({bits} bits)")
    axes.grid(alpha=0.3)
    return _save(figure, Path(path))


def log_spaced_ks(size: int, *, points: int = 2000, include: tuple[int, ...] = ()) -> np.ndarray:
    """Distinct K from 1 to ``size``, evenly spaced on a log axis, plus the ``include`` values."""
    ks = np.unique(np.geomspace(1, size, num=min(points, size)).round().astype(np.int64))
    extra = [k for k in include if 1 <= k <= size]
    return np.union1d(ks, np.asarray(extra, dtype=np.int64))


def plot_map_at_k(curve: np.ndarray, path: str | Path, *, topk: int, title: str | None = None) -> Path:
    """mAP@K for K = 1..Ndb on a log axis (``curve[K - 1]``), with K = ``topk`` marked.

    The curve has ties in database order (``QueryScores.map_at_k_curve``) and its axis says so:
    the mark at ``topk`` is the ``map@K_database_order`` value, not the tie-aware ``map@K``.

    The curve is drawn through at most a few thousand log-spaced K: it is a step function, and
    a million points would only slow the rendering down.
    """
    size = curve.shape[0]
    ks = log_spaced_ks(size, include=(topk,))
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot(ks, curve[ks - 1], linewidth=1.5, color="tab:blue")
    marked = min(topk, size)
    axes.axvline(marked, color="tab:red", linestyle="--", linewidth=1)
    axes.plot(marked, curve[marked - 1], marker="o", markersize=5, color="tab:red")
    label = str(marked) if marked == topk else f"{marked} (K={topk} asked)"
    axes.annotate(
        f"mAP@{label} = {curve[marked - 1]:.4f}",
        (marked, curve[marked - 1]),
        textcoords="offset points",
        xytext=(6, -12),
        fontsize=8,
        color="tab:red",
    )
    axes.set_xscale("log")
    axes.set_xlim(1, max(size, 2))
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("K (top-K results, log scale)")
    axes.set_ylabel("mAP@K, ties in database order")
    axes.set_title(title or f"mAP@K for K = 1 to the database size ({size:,})")
    axes.grid(alpha=0.3, which="both")
    return _save(figure, Path(path))


def plot_training_curves(records: list[dict], path: str | Path, *, title: str | None = None) -> Path:
    """Training loss and validation mAP (or loss) per epoch, from a run's ``metrics.jsonl`` records."""
    figure = _figure()
    loss_axes = figure.add_subplot()
    epochs = [record["epoch"] for record in records]
    loss_axes.plot(epochs, [record["loss"] for record in records], color="tab:red", marker="o", markersize=2)
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("training loss", color="tab:red")
    # Validation mAP, or (label-free selection) the validation loss, on the right-hand axis.
    key, label = ("val_map", "validation mAP")
    if not any(record.get(key) is not None for record in records):
        key, label = ("val_loss", "validation loss")
    validated = [record for record in records if record.get(key) is not None]
    if validated:
        score_axes = loss_axes.twinx()
        score_axes.plot(
            [record["epoch"] for record in validated],
            [record[key] for record in validated],
            color="tab:blue",
            marker="o",
            markersize=2,
        )
        score_axes.set_ylabel(label, color="tab:blue")
        if key == "val_map":
            score_axes.set_ylim(0.0, 1.0)
    loss_axes.grid(True, alpha=0.3)
    loss_axes.set_title(title or "Training curves", fontsize=10)
    return _save(figure, Path(path))

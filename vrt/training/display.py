"""The line a run prints after each epoch."""

from __future__ import annotations

from typing import Any


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
    if "val_unique_codes" in record:
        parts.append(f"{record['val_unique_codes']:.0%} distinct codes")
    return "  ".join(parts)

"""Is the model waiting for data? The share of an epoch the training step spent waiting for the
loader, and what to change when it is too large.

On a GPU the data loader, not the model, usually sets the pace: decoding a 16-frame clip takes
a CPU core tens of milliseconds, and a GPU trains a 3D ResNet-18 on hundreds of clips a second.
The Runner records each epoch's wait (``data_wait_s``, ``data_wait_share`` in ``metrics.jsonl``)
and warns, naming the settings that help for this run, when it passes :data:`DATA_WAIT_LIMIT`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from vrt.config import Config
from vrt.runtime.cpus import usable_cores

# Above this share of the epoch spent waiting for batches, the run is told how to feed faster.
DATA_WAIT_LIMIT = 0.25


def feeding_record(*, seconds: float, data_seconds: float) -> dict[str, Any]:
    """The epoch's data-wait keys for ``metrics.jsonl``: waiting, computing, and the waiting share."""
    return {
        "data_wait_s": data_seconds,
        "compute_s": max(seconds - data_seconds, 0.0),
        "data_wait_share": data_seconds / seconds if seconds > 0 else 0.0,
    }


def starved_warning(
    record: dict[str, Any], *, config: Config, storage: Collection[str], device_type: str
) -> str | None:
    """A warning when the epoch of ``record`` waited on data more than :data:`DATA_WAIT_LIMIT`
    of the time, naming the settings that help; ``None`` otherwise.

    Args:
        record: the epoch's ``metrics.jsonl`` record (with :func:`feeding_record`'s keys).
        storage: how the training videos are stored (``"video"``, ``"frames"``; empty when
            they are not files, as for the synthetic dataset).
        device_type: the training device's type (``"cuda"``, ``"cpu"`` ...).
    """
    share = record.get("data_wait_share", 0.0)
    if share <= DATA_WAIT_LIMIT:
        return None
    data = config.data
    cores = usable_cores()
    remedies = []
    if data.num_workers < cores:
        remedies.append(
            f"more DataLoader workers (data.num_workers is {data.num_workers}; this machine has {cores} cores)"
        )
    elif data.num_workers > 0 and not data.persistent_workers:
        remedies.append("data.persistent_workers: true (the workers start again every epoch)")
    if "video" in storage:
        short = data.augment.resize_short or "the clips' short side"
        remedies.append(
            f"frame folders instead of video files: vrt prepare frames --short-side {short}, then "
            "data.dataset.storage: frames (see docs/datasets.md)"
        )
    if "frames" in storage and data.pipeline == "cpu" and device_type == "cuda":
        remedies.append("decoding and augmenting the frames on the GPU: data.pipeline: device")
    if not remedies:
        remedies.append("faster storage for the dataset, or more CPU cores per GPU")
    return (
        f"epoch {record['epoch']}: the training step waited for data {share:.0%} of the time "
        f"({record['data_wait_s']:.1f} s of {record['seconds']:.1f} s), so the data loader sets the "
        f"pace; try {'; or '.join(remedies)}"
    )

"""Frames of a video by id, for pages that show what was retrieved.

The clips are loaded with the deterministic test-time transform (``training=False``), the same
the codes were computed from, so a thumbnail shows what the model saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from vrt.datasets.base import VideoDataset

__all__ = ["clip_frames"]


def clip_frames(datasets: Iterable[VideoDataset]) -> Callable[[str], list[np.ndarray]]:
    """A function from a video id to its clip's frames, uint8 ``[H, W, 3]`` each.

    Ids are looked up in ``datasets`` in order (the first that has an id wins).
    """
    where: dict[str, tuple[VideoDataset, int]] = {}
    for dataset in datasets:
        for index, video_id in enumerate(dataset.ids):
            where.setdefault(video_id, (dataset, index))

    def frames(video_id: str) -> list[np.ndarray]:
        if video_id not in where:
            raise KeyError(f"no video with id {video_id!r}")
        dataset, index = where[video_id]
        clip = dataset.load_clip(index, training=False)  # (C, T, H, W) in [0, 1]
        pixels = (clip.permute(1, 2, 3, 0).clamp(0, 1) * 255).round().to(torch.uint8)
        return list(pixels.cpu().numpy())

    return frames

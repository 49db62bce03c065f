"""Batching that survives unreadable videos: skipped items travel beside the batch, not in it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from vrt.datasets.base import SkippedClip


class ClipBatch(NamedTuple):
    clips: torch.Tensor  # (B, C, T, H, W), or (B, n, C, T, H, W) with n test-time clips per video
    labels: torch.Tensor  # (B,) int64
    indices: torch.Tensor  # (B,) dataset indices of the clips
    skipped: list[SkippedClip]  # videos of this batch that could not be read

    def __len__(self) -> int:  # type: ignore[override]  # the number of clips, not of fields
        return len(self.labels)


def collate_clips(items: Sequence[tuple[torch.Tensor, int, int] | SkippedClip]) -> ClipBatch:
    good = [item for item in items if not isinstance(item, SkippedClip)]
    skipped = [item for item in items if isinstance(item, SkippedClip)]
    if not good:
        empty = torch.empty(0, dtype=torch.int64)
        return ClipBatch(torch.empty(0), empty, empty.clone(), skipped)
    return ClipBatch(
        clips=torch.stack([clip for clip, _, _ in good]),
        labels=torch.tensor([label for _, label, _ in good], dtype=torch.int64),
        indices=torch.tensor([index for _, _, index in good], dtype=torch.int64),
        skipped=skipped,
    )

"""Batching that survives unreadable videos: skipped items travel beside the batch, not in it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from vrt.datasets.items import SkippedClip
from vrt.datasets.pending import PendingClip, finish_clips

# What a ClipView item carries: a clip tensor; with test-time clips, a stack of them; with the
# device pipeline, the pending clip (or the video's pending clips) to finish on the device.
ClipItem = torch.Tensor | PendingClip | tuple[PendingClip, ...]


class PendingClips(list):
    """A batch's clips still to be decoded and transformed on the device (``data.pipeline: device``);
    one entry per video: a :class:`PendingClip`, or a tuple of them for test-time clips."""


class ClipBatch(NamedTuple):
    clips: (
        torch.Tensor | PendingClips
    )  # (B, C, T, H, W), or (B, n, C, T, H, W) with n test-time clips per video
    labels: torch.Tensor  # (B,) int64
    indices: torch.Tensor  # (B,) dataset indices of the clips
    skipped: list[SkippedClip]  # videos of this batch that could not be read

    def __len__(self) -> int:  # type: ignore[override]  # the number of clips, not of fields
        return len(self.labels)

    def on_device(self, device: torch.device) -> ClipBatch:
        """The batch with its clips on ``device``: copied there, or finished there when pending.

        A pending video whose frames do not decode leaves the batch for ``skipped``, as it would
        have in a DataLoader worker.
        """
        if isinstance(self.clips, torch.Tensor):
            # (Not _replace: NamedTuple's relies on len(), which counts clips here.)
            return ClipBatch(
                self.clips.to(device, non_blocking=True), self.labels, self.indices, self.skipped
            )
        flat = [clip for item in self.clips for clip in (item if isinstance(item, tuple) else (item,))]
        finished = iter(finish_clips(flat, device=device))
        clips, keep, skipped = [], [], list(self.skipped)
        for position, item in enumerate(self.clips):
            parts = [next(finished) for _ in range(len(item) if isinstance(item, tuple) else 1)]
            failure = next((part for part in parts if isinstance(part, str)), None)
            if failure is not None:
                first = item[0] if isinstance(item, tuple) else item
                skipped.append(SkippedClip(int(self.indices[position]), first.video_id, failure))
                continue
            clips.append(torch.stack(parts) if isinstance(item, tuple) else parts[0])
            keep.append(position)
        if not clips:
            empty = torch.empty(0, dtype=torch.int64)
            return ClipBatch(torch.empty(0, device=device), empty, empty.clone(), skipped)
        chosen = torch.tensor(keep, dtype=torch.int64)
        return ClipBatch(torch.stack(clips), self.labels[chosen], self.indices[chosen], skipped)


def collate_clips(items: Sequence[tuple[ClipItem, int, int] | SkippedClip]) -> ClipBatch:
    good = [item for item in items if not isinstance(item, SkippedClip)]
    skipped = [item for item in items if isinstance(item, SkippedClip)]
    if not good:
        empty = torch.empty(0, dtype=torch.int64)
        return ClipBatch(torch.empty(0), empty, empty.clone(), skipped)
    clips = [clip for clip, _, _ in good]
    return ClipBatch(
        clips=torch.stack(clips) if isinstance(clips[0], torch.Tensor) else PendingClips(clips),
        labels=torch.tensor([label for _, label, _ in good], dtype=torch.int64),
        indices=torch.tensor([index for _, _, index in good], dtype=torch.int64),
        skipped=skipped,
    )

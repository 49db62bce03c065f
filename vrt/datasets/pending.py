"""Clips finished on the training device: the DataLoader workers only read bytes (``data.pipeline: device``).

With the device pipeline a worker does the cheap, sequential part of loading a clip: list the
frame folder, let the sampler pick the frames, read their JPEG files' bytes, and draw the
clip's augmentation (its :class:`~vrt.datasets.transforms.ClipRecipe`, from the clip's seeded
RNG, as on the CPU path). The batch then reaches the main process as :class:`PendingClip`
items, and :func:`finish_clips` decodes all of its JPEGs in one ``decode_jpeg`` call on the
device (nvJPEG on a GPU) and applies each recipe there. Video files are decoded by the worker
(FFmpeg decodes on the CPU) and only transformed on the device.

The same recipe gives the same clip on either path, up to the rounding of a GPU's float resize
and of nvJPEG's decoder; on the CPU device the result is the CPU path's, bit for bit (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vrt.datasets.decoders import decode_images, decoder_message
from vrt.datasets.transforms import ClipRecipe, apply_recipe


@dataclass(frozen=True)
class PendingClip:
    """One clip, read but not yet decoded or transformed.

    Either ``encoded`` (the bytes of its frame files, in clip order; a repeated frame repeats
    the same array) or ``frames`` (uint8 ``(T, H, W, 3)``, decoded by the worker) is set.
    ``video_id`` and ``source`` name the video when its frames turn out to be undecodable.
    """

    recipe: ClipRecipe
    video_id: str
    source: str
    encoded: tuple[np.ndarray, ...] = ()
    frames: np.ndarray | torch.Tensor | None = None

    def __post_init__(self) -> None:
        if (self.frames is None) == (not self.encoded):
            raise ValueError("a pending clip holds either its encoded frame files or its decoded frames")


def finish_clips(clips: Sequence[PendingClip], *, device: torch.device | str) -> list[torch.Tensor | str]:
    """Every clip as float32 ``(C, T, H, W)`` on ``device``, or the reason it could not be decoded.

    All JPEGs of the batch go to the decoder together; if that call fails, each clip is
    decoded on its own so that one damaged file costs its clip, not the batch.
    """
    device = torch.device(device)
    encoded = [clip for clip in clips if clip.encoded]
    images: dict[int, list[torch.Tensor] | str] = {}
    if encoded:
        try:
            flat = decode_images(_as_tensors(encoded), device=device)
        except RuntimeError:
            for clip in encoded:
                images[id(clip)] = _decode_alone(clip, device)
        else:
            start = 0
            for clip in encoded:
                images[id(clip)] = flat[start : start + len(clip.encoded)]
                start += len(clip.encoded)
    finished: list[torch.Tensor | str] = []
    for clip in clips:
        if clip.frames is not None:
            frames = torch.as_tensor(clip.frames).to(device, non_blocking=True)
        else:
            decoded = images[id(clip)]
            if isinstance(decoded, str):
                finished.append(decoded)
                continue
            sizes = {tuple(image.shape) for image in decoded}
            if len(sizes) > 1:
                finished.append(f"{clip.source}: the frames of one clip differ in size {sorted(sizes)}")
                continue
            frames = torch.stack(decoded)
        finished.append(apply_recipe(frames.permute(0, 3, 1, 2), clip.recipe))
    return finished


def _as_tensors(clips: Sequence[PendingClip]) -> list[torch.Tensor]:
    return [torch.from_numpy(data) for clip in clips for data in clip.encoded]


def _decode_alone(clip: PendingClip, device: torch.device) -> list[torch.Tensor] | str:
    try:
        return decode_images(_as_tensors([clip]), device=device)
    except RuntimeError as error:
        return f"{clip.source}: cannot decode a frame ({decoder_message(error)})"

"""Turn clips into packed binary codes with a trained model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from vrt.codes import CodeSet, pack_bits
from vrt.config import Config
from vrt.data.collate import ClipBatch
from vrt.datasets.base import ClipView, SkippedClip
from vrt.devices import autocast
from vrt.errors import VideoDecodeError
from vrt.model import HashingModel, binarize


def real_valued_codes(model: HashingModel, clips: torch.Tensor) -> torch.Tensor:
    """``u`` for a batch; several clips per video ``(B, n, C, T, H, W)`` are averaged per video.

    Averaging the real values before binarising keeps what every clip agrees on, which a vote
    over already-binarised codes would blur.
    """
    if clips.ndim == 6:
        videos, clips_per_video = clips.shape[:2]
        return model(clips.flatten(0, 1)).float().view(videos, clips_per_video, -1).mean(dim=1)
    return model(clips).float()


@torch.no_grad()
def encode_view(
    model: HashingModel,
    view: ClipView,
    loader: DataLoader,
    *,
    device: torch.device,
    amp: bool = False,
    class_names: list[str] | None = None,
    on_batch: Callable[[int], None] | None = None,
    on_skipped: Callable[[list[SkippedClip]], None] | None = None,
) -> CodeSet:
    """Binary codes of every readable clip of ``view``, in view order (the loader must not shuffle).

    Videos that cannot be decoded are left out of the code set and handed to ``on_skipped``.
    """
    was_training = model.training
    model.eval()
    bits: list[np.ndarray] = []
    indices: list[np.ndarray] = []
    try:
        batch: ClipBatch
        for batch in loader:
            if batch.skipped and on_skipped is not None:
                on_skipped(batch.skipped)
            if len(batch):
                with autocast(device, amp):
                    u = real_valued_codes(model, batch.clips.to(device, non_blocking=True))
                bits.append(binarize(u).cpu().numpy())
                indices.append(batch.indices.numpy())
            if on_batch is not None:
                on_batch(len(batch) + len(batch.skipped))
    finally:
        model.train(was_training)
    all_bits = np.concatenate(bits) if bits else np.zeros((0, model.bits), dtype=bool)
    all_indices = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    dataset = view.dataset
    return CodeSet(
        codes=pack_bits(all_bits),
        bits=model.bits,
        labels=np.asarray([dataset.labels[i] for i in all_indices], dtype=np.int64),
        ids=np.asarray([dataset.ids[i] for i in all_indices], dtype=str),
        class_names=class_names,
    )


@torch.no_grad()
def encode_video_file(
    model: HashingModel, config: Config, path: str | Path, *, device: torch.device | None = None
) -> np.ndarray:
    """Packed code ``[1, bits // 8]`` of one video file or frame folder, encoded like a test video.

    The video goes through the same dataset machinery as a test split (clip sampler in test
    mode, ``data.clips_per_video`` views averaged, deterministic test transform), so its code is
    comparable with the codes ``vrt export`` wrote for the run's splits.
    """
    from vrt.data.pipeline import call_with_injected
    from vrt.datasets.files import VideoFileDataset
    from vrt.datasets.splitfiles import SplitEntry
    from vrt.registry import SAMPLERS

    path = Path(path)
    data = config.data
    sampler = call_with_injected(
        SAMPLERS.get(data.clip_sampler.name), data.clip_sampler.params, {"num_frames": data.num_frames}
    )
    single = VideoFileDataset(
        entries=[SplitEntry(path.name, 0, None)],
        root=path.parent,
        class_names=["query"],
        clip_sampler=sampler,
        num_frames=data.num_frames,
        frame_size=data.frame_size,
        strict=True,
        name="query video",
    )
    item = ClipView(single, [0], training=False, num_clips=data.clips_per_video)[0]
    if isinstance(item, SkippedClip):
        raise VideoDecodeError(item.reason)
    clip = item[0] if data.clips_per_video > 1 else item[0][None]  # (views, C, T, H, W)
    device = device or torch.device("cpu")
    was_training = model.training
    model.to(device).eval()
    try:
        with autocast(device, config.train.amp):
            u = real_valued_codes(model, clip[None].to(device))  # (1, views, C, T, H, W)
    finally:
        model.train(was_training)
    return pack_bits(binarize(u).cpu().numpy())

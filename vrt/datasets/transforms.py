"""Clip transforms: decoded frames in, a model-ready clip tensor out, with one geometry per clip.

A 3D CNN learns from how pixels move between frames, so augmentation must move every frame of
a clip the same way: the transforms run once on the whole ``(T, C, H, W)`` clip (torchvision
``transforms.v2`` draws its random parameters once per call), never frame by frame.

Training: scale the shorter side to ``resize_short``, crop a random square whose side is a
random fraction of that (multi-scale crop), resize it to ``frame_size``, flip horizontally at
random and jitter the colours, as ``data.augment`` says. Testing: the same short-side scale
and a centre crop, deterministic, so database and query codes are reproducible.

Normalisation is not done here: the model normalises with its backbone's statistics (see
``Normalization``), so clips stay in [0, 1] whatever backbone reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from vrt.config.schema import AugmentConfig, default_resize_short


class RandomScaleCrop(v2.Transform):
    """A square crop whose side is ``s`` times the shorter image side, ``s`` drawn from ``scales``,
    at a uniformly random position (the multi-scale crop of TSN, restricted to squares).

    Randomness comes from torch's global RNG, which the DataLoader seeds per worker.
    """

    def __init__(self, scales: Sequence[float]) -> None:
        super().__init__()
        if not scales or not all(0.0 < s <= 1.0 for s in scales):
            raise ValueError(f"scales must be a non-empty list of fractions in (0, 1], got {scales}")
        self.scales = tuple(float(s) for s in scales)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.functional.get_size(flat_inputs[0])
        scale = self.scales[int(torch.randint(len(self.scales), (1,)).item())]
        side = max(1, min(round(min(height, width) * scale), height, width))
        top = int(torch.randint(height - side + 1, (1,)).item())
        left = int(torch.randint(width - side + 1, (1,)).item())
        return {"top": top, "left": left, "height": side, "width": side}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return v2.functional.crop(inpt, **params)

    def extra_repr(self) -> str:
        return f"scales={self.scales}"


class ClipTransform:
    """Turns uint8 frames ``(T, H, W, 3)`` (numpy or torch) into a float32 ``(C, T, H, W)`` clip in [0, 1].

    ``transform`` is applied to the clip as one ``(T, C, H, W)`` video, so every random choice
    is shared by all its frames. Build it with ``build_clip_transform``.
    """

    def __init__(self, transform: v2.Transform, *, frame_size: int, training: bool) -> None:
        self.transform = transform
        self.frame_size = frame_size
        self.training = training

    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        video = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
        if video.dtype != torch.uint8 or video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(
                f"expected uint8 frames of shape (T, H, W, 3), got {tuple(video.shape)} {video.dtype}"
            )
        clip = self.transform(tv_tensors.Video(video.permute(0, 3, 1, 2)))
        return clip.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()

    def __repr__(self) -> str:
        # One line, step by step: it is printed in tables and logs.
        steps = getattr(self.transform, "transforms", [self.transform])
        return " -> ".join(" ".join(repr(step).split()) for step in steps)


def build_clip_transform(
    *, frame_size: int, training: bool, augment: AugmentConfig | None = None
) -> ClipTransform:
    """The training or testing transform for square clips of ``frame_size`` pixels.

    Args:
        frame_size: side of the output frames.
        training: the random augmentation of ``augment`` (``True``) or a deterministic centre crop.
        augment: scales, flip, colour jitter and the short side to scale to first (see
            :class:`~vrt.config.schema.AugmentConfig`; its defaults when None).
    """
    if frame_size < 1:
        raise ValueError(f"frame_size must be at least 1, got {frame_size}")
    augment = augment or AugmentConfig()
    resize_short = augment.resize_short or default_resize_short(frame_size)
    if resize_short < frame_size:
        raise ValueError(f"resize_short ({resize_short}) must be at least frame_size ({frame_size})")
    # Geometry runs on uint8, before the float conversion: a quarter of the memory traffic.
    steps: list[v2.Transform] = [v2.Resize(resize_short, antialias=True)]
    if training:
        steps += [RandomScaleCrop(augment.scales), v2.Resize((frame_size, frame_size), antialias=True)]
        if augment.flip:
            steps.append(v2.RandomHorizontalFlip(p=0.5))
        color = augment.color
        if color.enabled:
            # One draw per call, so every frame of the clip gets the same colour change.
            steps.append(
                v2.ColorJitter(
                    brightness=color.brightness or None,
                    contrast=color.contrast or None,
                    saturation=color.saturation or None,
                    hue=color.hue or None,
                )
            )
    else:
        steps.append(v2.CenterCrop(frame_size))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    return ClipTransform(v2.Compose(steps), frame_size=frame_size, training=training)

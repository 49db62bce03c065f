"""Moving shapes: a generated dataset that needs no download, for demos, tests and smoke runs.

Each class is a (shape, motion) pair, so a model must use both appearance and motion across
frames to tell every class apart, which is what the real datasets ask of a 3D CNN. Clips are
rendered on the fly from a per-video numpy generator seeded by ``(seed, subset, index)``:
nothing is stored, every clip is reproducible, and train and test never share a video.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from vrt.datasets.base import VideoDataset
from vrt.datasets.clips import ClipSpec
from vrt.registry import DATASETS

# The first three shapes are the most unlike each other: with few classes, the pairs that
# differ only in shape are drawn from them (see ``class_composition``).
SHAPES: tuple[str, ...] = ("bar", "disc", "cross", "square", "triangle", "ring")
# (dx, dy) in image coordinates (y grows downwards); unit length except ``static``.
MOTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "static": (0.0, 0.0),
    "down_right": (float(np.sqrt(0.5)), float(np.sqrt(0.5))),
}
MAX_CLASSES = len(SHAPES) * len(MOTIONS)
MIN_FRAME_SIZE = 16

# Numbers that keep the task learnable by a tiny CNN at 32x32 yet not trivial: the shape spans
# about a third of the frame and travels a third of it over the clip, whatever T and size are.
_RADIUS = (0.18, 0.22)  # half-extent of the shape, as a fraction of the frame
_TRAVEL = (0.35, 0.50)  # distance covered over the whole clip, as a fraction of the frame
_FOREGROUND = (0.55, 1.0)  # per-channel colour ranges: the shape is always brighter than the
_BACKGROUND = (0.0, 0.35)  # background, so it never blends in whatever colours are drawn
_SUBSET_STREAM = {"train": 0, "test": 1}


def class_composition(label: int) -> tuple[str, str]:
    """The (shape, motion) of a label.

    Consecutive labels change shape *and* motion (label k has shape k mod S and motion
    (k + k div S) mod M, a bijection onto all S*M pairs), so even the default 8 classes need
    both cues: e.g. ``bar_moving_left`` and ``bar_moving_right`` differ only in motion,
    ``bar_moving_right`` and ``disc_moving_right`` only in shape.
    """
    if not 0 <= label < MAX_CLASSES:
        raise ValueError(f"label must lie in [0, {MAX_CLASSES}), got {label}")
    shape = label % len(SHAPES)
    motion = (label // len(SHAPES) + label) % len(MOTIONS)
    return SHAPES[shape], list(MOTIONS)[motion]


def class_name(label: int) -> str:
    shape, motion = class_composition(label)
    return f"{shape}_static" if motion == "static" else f"{shape}_moving_{motion}"


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask of ``shape`` given pixel offsets from its centre (broadcast over frames)."""
    adx, ady = np.abs(dx), np.abs(dy)
    if shape == "square":
        return np.maximum(adx, ady) <= 0.85 * radius
    if shape == "disc":
        return dx * dx + dy * dy <= radius * radius
    if shape == "triangle":  # apex up, so it is not symmetric under a vertical flip
        return (ady <= radius) & (adx <= 0.6 * (dy + radius))
    if shape == "cross":
        arm = 0.3 * radius
        return ((adx <= arm) & (ady <= radius)) | ((ady <= arm) & (adx <= radius))
    if shape == "ring":
        squared = dx * dx + dy * dy
        return (squared <= radius * radius) & (squared >= (0.5 * radius) ** 2)
    if shape == "bar":
        return (adx <= 0.35 * radius) & (ady <= radius)
    raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")


class SyntheticVideos(VideoDataset):
    """One subset of the moving-shapes collection; labels come in blocks of ``videos_per_class``.

    Per video, the generator draws the shape's size, start position, speed and colours, the
    background colour and the pixel noise. ``load_clip(training=True)`` replaces that noise with
    fresh noise from torch's global RNG: a label-preserving augmentation (a horizontal flip would
    turn ``left`` into ``right``).
    """

    def __init__(
        self,
        *,
        subset: Literal["train", "test"],
        num_frames: int,
        frame_size: int,
        num_classes: int,
        videos_per_class: int,
        noise: float,
        seed: int,
    ) -> None:
        if subset not in _SUBSET_STREAM:
            raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        if frame_size < MIN_FRAME_SIZE:
            raise ValueError(f"frame_size must be at least {MIN_FRAME_SIZE} pixels, got {frame_size}")
        if not 1 <= num_classes <= MAX_CLASSES:
            raise ValueError(
                f"num_classes must lie in [1, {MAX_CLASSES}] ({len(SHAPES)} shapes x {len(MOTIONS)} "
                f"motions), got {num_classes}"
            )
        if videos_per_class < 1:
            raise ValueError(f"videos per class must be at least 1, got {videos_per_class}")
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise is a pixel standard deviation in [0, 1], got {noise}")
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.subset = subset
        self.num_frames = num_frames
        self.frame_size = frame_size
        self.videos_per_class = videos_per_class
        self.noise = noise
        self.seed = seed
        count = num_classes * videos_per_class
        super().__init__(
            class_names=[class_name(label) for label in range(num_classes)],
            labels=[index // videos_per_class for index in range(count)],
            ids=[f"synthetic/{subset}/{index:05d}" for index in range(count)],
            groups=None,
        )
        # Pixel centres, shaped to broadcast against per-frame centres (T, 1, 1).
        self._xs = (np.arange(frame_size, dtype=np.float32) + 0.5)[None, None, :]
        self._ys = (np.arange(frame_size, dtype=np.float32) + 0.5)[None, :, None]

    def _generator(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SUBSET_STREAM[self.subset], index])

    def load_clip(self, index: int, *, training: bool, clip: int = 0, num_clips: int = 1) -> torch.Tensor:
        if not 0 <= index < len(self):
            raise IndexError(f"video index {index} outside [0, {len(self)})")
        rng = self._generator(index)
        shape, motion = class_composition(self.labels[index])
        size, frames = float(self.frame_size), self.num_frames

        radius = rng.uniform(*_RADIUS) * size
        travel = rng.uniform(*_TRAVEL) * size
        direction_x, direction_y = MOTIONS[motion]
        total_x, total_y = direction_x * travel, direction_y * travel
        # Start anywhere that keeps the whole trajectory inside the frame.
        start_x = rng.uniform(radius - min(total_x, 0.0), size - radius - max(total_x, 0.0))
        start_y = rng.uniform(radius - min(total_y, 0.0), size - radius - max(total_y, 0.0))
        foreground = rng.uniform(*_FOREGROUND, size=3).astype(np.float32)
        background = rng.uniform(*_BACKGROUND, size=3).astype(np.float32)

        progress = np.arange(frames, dtype=np.float32) / max(frames - 1, 1)
        centre_x = (start_x + total_x * progress)[:, None, None]
        centre_y = (start_y + total_y * progress)[:, None, None]
        mask = _shape_mask(shape, self._xs - centre_x, self._ys - centre_y, radius)  # (T, H, W)
        clip = np.where(mask[None], foreground[:, None, None, None], background[:, None, None, None])

        if self.noise > 0:
            if training:
                # Fresh noise per call from torch's RNG, which DataLoader seeds per worker.
                clip = torch.from_numpy(clip) + self.noise * torch.randn(clip.shape)
                return clip.clamp_(0.0, 1.0)
            clip = clip + self.noise * rng.standard_normal(clip.shape, dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32)).clamp_(0.0, 1.0)

    def describe_clips(self) -> dict[str, str]:
        return {
            "clips": f"rendered at {self.num_frames} x {self.frame_size} x {self.frame_size}; training "
            "clips get fresh pixel noise (data.augment and the clip sampler do not apply)"
        }

    def __repr__(self) -> str:
        return (
            f"SyntheticVideos(subset={self.subset!r}, videos={len(self)}, classes={self.num_classes}, "
            f"frames={self.num_frames}, size={self.frame_size}, noise={self.noise}, seed={self.seed})"
        )


@DATASETS.register("synthetic")
def synthetic(
    *,
    subset: Literal["train", "test"],
    clips: ClipSpec,
    num_classes: int = 8,
    videos_per_class: int = 40,
    test_videos_per_class: int = 10,
    noise: float = 0.05,
    seed: int = 0,
) -> SyntheticVideos:
    """Generated moving shapes (class = shape x motion); no download, deterministic per seed.

    Args:
        subset: ``train`` or ``test``; the two never share a video (separate seed streams).
        clips: clip size from ``data.num_frames``/``frame_size``, injected by vrt. The clips are
            rendered at that size, so ``data.augment`` and the clip sampler do not apply: training
            clips are augmented with fresh pixel noise instead (a flip would turn ``left`` into
            ``right``).
        num_classes: up to 36 (6 shapes x 6 motions).
        videos_per_class: videos of each class in the training subset.
        test_videos_per_class: videos of each class in the test subset.
        noise: standard deviation of the Gaussian pixel noise (pixels are in [0, 1]).
        seed: selects the whole collection; change it for an independent replicate.
    """
    per_class = videos_per_class if subset == "train" else test_videos_per_class
    return SyntheticVideos(
        subset=subset,
        num_frames=clips.num_frames,
        frame_size=clips.frame_size,
        num_classes=num_classes,
        videos_per_class=per_class,
        noise=noise,
        seed=seed,
    )

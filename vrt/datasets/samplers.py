"""Clip samplers: which T frames of a video of L frames make up a clip.

A sampler returns sorted (non-decreasing) frame indices in ``[0, L)``; a video shorter than the
clip repeats frames rather than failing, so every clip has exactly T frames. Training draws
come from torch's global RNG by default, which the DataLoader seeds per worker, or from an
explicit ``torch.Generator``; testing is always deterministic.

Test-time multi-clip evaluation (``clips_per_video``) asks for view ``clip`` of ``num_clips``:
each sampler spreads those views over the video (``uniform`` shifts its grid per view).

torch is imported on first use so that ``vrt list samplers`` stays fast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from vrt.registry import SAMPLERS

if TYPE_CHECKING:
    import torch


class ClipSampler(ABC):
    """Chooses ``num_frames`` frame indices of a video; see the module docstring for the rules."""

    def __init__(self, *, num_frames: int) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        self.num_frames = num_frames

    def __call__(
        self,
        video_length: int,
        *,
        training: bool,
        clip: int = 0,
        num_clips: int = 1,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Frame indices for one clip of a video with ``video_length`` frames.

        Args:
            video_length: number of decodable frames, at least 1.
            training: random placement (where the sampler has any) instead of the fixed one.
            clip, num_clips: which of ``num_clips`` test-time views to return (ignored in training).
            generator: source of training randomness; torch's global RNG when ``None``.
        """
        if video_length < 1:
            raise ValueError(f"a video needs at least one frame to sample a clip, got {video_length}")
        if num_clips < 1 or not 0 <= clip < num_clips:
            raise ValueError(f"clip must lie in [0, num_clips), got clip={clip}, num_clips={num_clips}")
        if training:
            return self._training(video_length, generator)
        return self._testing(video_length, clip, num_clips)

    @abstractmethod
    def _training(self, length: int, generator: torch.Generator | None) -> list[int]: ...

    @abstractmethod
    def _testing(self, length: int, clip: int, num_clips: int) -> list[int]: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_frames={self.num_frames})"


class UniformSampler(ClipSampler):
    """T frames evenly spaced from the first frame to the last, in training and testing alike.

    This is the reference's sampling; it has no randomness, so training sees the same frames
    of a video every epoch (``data.augment.temporal_jitter`` varies them). Test view c of n
    shifts the grid by ``(c - (n - 1) / 2) / n`` of its spacing, so several views see different
    frames (they can only coincide when the video has no frames between the grid's); one view
    is the reference's grid exactly.
    """

    def _training(self, length: int, generator: torch.Generator | None) -> list[int]:
        return self._testing(length, 0, 1)

    def _testing(self, length: int, clip: int, num_clips: int) -> list[int]:
        frames = self.num_frames
        if frames == 1:
            # One frame per view, at the centre of the view's share of frames 0..L-1.
            return [((2 * clip + 1) * (length - 1)) // (2 * num_clips)]
        # Rounded (i + (2c + 1 - n) / 2n) * (L - 1) / (T - 1) in integer arithmetic (exact, no
        # float drift), clamped to the video: the grid of linspace(0, L - 1, T), shifted.
        span, steps = length - 1, frames - 1
        scale = 2 * num_clips * steps
        return [
            min(max((span * (2 * num_clips * i + 2 * clip + 1 - num_clips) + scale // 2) // scale, 0), span)
            for i in range(frames)
        ]


class SegmentSampler(ClipSampler):
    """One frame per each of T equal segments (TSN): random within the segment in training,
    the segment centre in testing (view c of n sits at fraction (c + 1/2)/n of each segment)."""

    def _training(self, length: int, generator: torch.Generator | None) -> list[int]:
        import torch

        frames = self.num_frames
        starts = [i * length // frames for i in range(frames)]
        # A video shorter than T has empty segments; they take their start frame, which the
        # next segment may also take: frames repeat, the order is kept.
        widths = [max((i + 1) * length // frames - start, 1) for i, start in enumerate(starts)]
        draws = torch.rand(frames, generator=generator).tolist()
        return [
            start + min(int(u * width), width - 1)
            for start, width, u in zip(starts, widths, draws, strict=True)
        ]

    def _testing(self, length: int, clip: int, num_clips: int) -> list[int]:
        frames = self.num_frames
        # floor((i + (2c + 1) / 2n) * L / T), in integers.
        return [
            ((2 * i * num_clips + 2 * clip + 1) * length) // (2 * num_clips * frames) for i in range(frames)
        ]


class DenseSampler(ClipSampler):
    """T consecutive frames at stride s: a random start in training, the centred window in
    testing (n views: windows evenly spread over the video). A video shorter than the window
    starts at frame 0 and repeats its last frame."""

    def __init__(self, *, num_frames: int, stride: int) -> None:
        super().__init__(num_frames=num_frames)
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        self.stride = stride

    @property
    def window(self) -> int:
        """Frames from the first sampled frame to the last, inclusive."""
        return (self.num_frames - 1) * self.stride + 1

    def _frames_from(self, start: int, length: int) -> list[int]:
        return [min(start + i * self.stride, length - 1) for i in range(self.num_frames)]

    def _training(self, length: int, generator: torch.Generator | None) -> list[int]:
        import torch

        slack = max(length - self.window, 0)
        start = int(torch.randint(slack + 1, (1,), generator=generator).item())
        return self._frames_from(start, length)

    def _testing(self, length: int, clip: int, num_clips: int) -> list[int]:
        slack = max(length - self.window, 0)
        return self._frames_from((2 * clip + 1) * slack // (2 * num_clips), length)

    def __repr__(self) -> str:
        return f"DenseSampler(num_frames={self.num_frames}, stride={self.stride})"


class TemporalJitter(ClipSampler):
    """Another sampler's training clips, taken from a random window of the video.

    The window covers between ``(1 - jitter)`` and all of the video, at a random place, so even
    the deterministic uniform sampler shows a video's frames differently from epoch to epoch
    (``data.augment.temporal_jitter``). Test clips are the other sampler's, unchanged.
    """

    def __init__(self, inner: ClipSampler, *, jitter: float) -> None:
        super().__init__(num_frames=inner.num_frames)
        if not 0.0 < jitter < 1.0:
            raise ValueError(f"temporal jitter must lie in (0, 1), got {jitter}")
        self.inner = inner
        self.jitter = jitter

    def _training(self, length: int, generator: torch.Generator | None) -> list[int]:
        import torch

        if length < 2:
            return self.inner(length, training=True, generator=generator)
        shortest = max(1, round((1.0 - self.jitter) * length))
        draws = torch.rand(2, generator=generator).tolist()
        window = shortest + min(int(draws[0] * (length - shortest + 1)), length - shortest)
        start = min(int(draws[1] * (length - window + 1)), length - window)
        return [start + index for index in self.inner(window, training=True, generator=generator)]

    def _testing(self, length: int, clip: int, num_clips: int) -> list[int]:
        return self.inner(length, training=False, clip=clip, num_clips=num_clips)

    def __repr__(self) -> str:
        return f"{self.inner!r}, temporal jitter {self.jitter} in training"


@SAMPLERS.register("uniform")
def uniform(*, num_frames: int) -> UniformSampler:
    """T frames evenly spread over the whole video, first to last (the reference; no randomness)."""
    return UniformSampler(num_frames=num_frames)


@SAMPLERS.register("segment")
def segment(*, num_frames: int) -> SegmentSampler:
    """One frame per segment of T equal segments: random in training, segment centres in testing."""
    return SegmentSampler(num_frames=num_frames)


@SAMPLERS.register("dense")
def dense(*, num_frames: int, stride: int = 1) -> DenseSampler:
    """T consecutive frames at a stride: random start in training, the centred window in testing."""
    return DenseSampler(num_frames=num_frames, stride=stride)

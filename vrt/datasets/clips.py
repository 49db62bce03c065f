"""How a dataset cuts clips from its videos: the one object vrt injects into every dataset builder.

A :class:`ClipSpec` holds what ``data.*`` says about clips (their length and size, the clip
sampler, the augmentation) and whether a listed video that is missing on disk is an error.
Datasets receive it as their ``clips`` argument and ask it for two things: which frames of a
video of L frames make up a clip (:meth:`ClipSpec.frame_indices`), and the transform that turns
those frames into a model-ready clip (:meth:`ClipSpec.transform`).

torch and torchvision are imported on first use, so that listing datasets stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from vrt.config.schema import AugmentConfig
from vrt.datasets.samplers import ClipSampler, UniformSampler

if TYPE_CHECKING:
    import torch

    from vrt.datasets.transforms import ClipTransform


@dataclass(frozen=True)
class ClipSpec:
    """Clips of ``num_frames`` square frames of ``frame_size`` pixels.

    Args:
        num_frames: T, the frames of a clip.
        frame_size: the side of the square frames after the transform.
        sampler: which T frames of a video form a clip; uniform over the video when None.
        augment: the training augmentation and the frame scale (``data.augment``).
        strict: a listed video missing on disk is an error instead of a warning.
    """

    num_frames: int
    frame_size: int
    sampler: ClipSampler | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    strict: bool = False

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_size < 1:
            raise ValueError(
                f"clips need num_frames >= 1 and frame_size >= 1, got {self.num_frames} and {self.frame_size}"
            )
        if self.sampler is None:
            object.__setattr__(self, "sampler", UniformSampler(num_frames=self.num_frames))
        elif self.sampler.num_frames != self.num_frames:
            raise ValueError(
                f"the clip sampler picks {self.sampler.num_frames} frames but clips have {self.num_frames}"
            )

    def frame_indices(
        self,
        video_length: int,
        *,
        training: bool,
        clip: int = 0,
        num_clips: int = 1,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """The frame indices of one clip of a video with ``video_length`` frames.

        In training with ``temporal_jitter`` j, the sampler works on a random window of between
        ``(1 - j)`` and all of the video, at a random place, so that even the deterministic
        uniform sampler shows a video's frames differently from epoch to epoch.
        """
        assert self.sampler is not None  # set in __post_init__
        jitter = self.augment.temporal_jitter
        if not training or jitter <= 0 or video_length < 2:
            return self.sampler(video_length, training=training, clip=clip, num_clips=num_clips)
        import torch

        shortest = max(1, round((1.0 - jitter) * video_length))
        draws = torch.rand(2, generator=generator).tolist()
        window = shortest + min(int(draws[0] * (video_length - shortest + 1)), video_length - shortest)
        start = min(int(draws[1] * (video_length - window + 1)), video_length - window)
        frames = self.sampler(window, training=True, generator=generator)
        return [start + index for index in frames]

    def transform(self, *, training: bool) -> ClipTransform:
        """The training (augmenting) or testing (deterministic) transform of these clips."""
        return self._transforms[training]

    @cached_property
    def _transforms(self) -> dict[bool, ClipTransform]:
        from vrt.datasets.transforms import build_clip_transform

        return {
            training: build_clip_transform(
                frame_size=self.frame_size, training=training, augment=self.augment
            )
            for training in (True, False)
        }

    def describe(self) -> dict[str, str]:
        """The resolved sampler and transforms, as ``vrt data summary`` shows them."""
        return {
            "sampler": repr(self.sampler)
            + (f", temporal jitter {jitter} in training" if (jitter := self.augment.temporal_jitter) else ""),
            "training transform": repr(self.transform(training=True)),
            "testing transform": repr(self.transform(training=False)),
        }

"""How a dataset cuts clips from its videos: the one object vrt injects into every dataset builder.

A :class:`ClipSpec` holds what ``data.*`` says about clips (their length and size, the clip
sampler, the augmentation, the video decoder, where clips are transformed) and whether a listed
video that is missing on disk is an error. Datasets receive it as their ``clips`` argument and
ask it for which frames of a video of L frames make up a clip (its ``sampler``, with the
temporal jitter of ``data.augment`` built in), how to decode them (its ``decoder``), and the
transform that turns those frames into a model-ready clip (:meth:`ClipSpec.transform`).

torch and torchvision are imported on first use, so that listing datasets stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from vrt.config.schema import AugmentConfig, resolved_resize_short
from vrt.datasets.decoders import ClipDecoder, PyAVDecoder
from vrt.datasets.samplers import ClipSampler, TemporalJitter, UniformSampler

if TYPE_CHECKING:
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
        decoder: what decodes video files (``data.decoder``); PyAV when None.
        pipeline: ``cpu`` transforms clips where they are read (DataLoader workers); ``device``
            leaves decoding frame files and transforming to the training device
            (``data.pipeline``, see :mod:`vrt.datasets.pending`).
    """

    num_frames: int
    frame_size: int
    sampler: ClipSampler | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    strict: bool = False
    decoder: ClipDecoder = field(default_factory=PyAVDecoder)
    pipeline: Literal["cpu", "device"] = "cpu"

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_size < 1:
            raise ValueError(
                f"clips need num_frames >= 1 and frame_size >= 1, got {self.num_frames} and {self.frame_size}"
            )
        sampler = self.sampler or UniformSampler(num_frames=self.num_frames)
        if sampler.num_frames != self.num_frames:
            raise ValueError(
                f"the clip sampler picks {sampler.num_frames} frames but clips have {self.num_frames}"
            )
        if self.augment.temporal_jitter > 0 and not isinstance(sampler, TemporalJitter):
            sampler = TemporalJitter(sampler, jitter=self.augment.temporal_jitter)
        object.__setattr__(self, "sampler", sampler)
        if self.pipeline not in ("cpu", "device"):
            raise ValueError(f"pipeline must be 'cpu' or 'device', got {self.pipeline!r}")

    @property
    def resize_short(self) -> int:
        """The short side frames are scaled to before cropping; what decoders may scale to."""
        return resolved_resize_short(self.augment, self.frame_size)

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
            "sampler": repr(self.sampler),
            "video decoder": repr(self.decoder),
            "pipeline": "decode frame files and transform on the device"
            if self.pipeline == "device"
            else "decode and transform in the DataLoader workers",
            "training transform": repr(self.transform(training=True)),
            "testing transform": repr(self.transform(training=False)),
        }

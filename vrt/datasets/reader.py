"""Turning a stored video (a video file or a frame folder) into a clip, in two steps.

:meth:`ClipReader.plan` makes every random choice of a clip: the sampler picks the frames, the
transform draws its recipe (crop, flip, colour) for the stored frame size. Both draw from
torch's global RNG, which ``ClipView`` seeds per clip. :meth:`ClipReader.carry_out` then reads,
decodes and transforms the frames, and draws nothing: plans drawn one after the other can be
carried out in threads (FFmpeg, libjpeg-turbo and torch release the GIL while they work) and
give the clips that carrying them out one by one gives.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vrt.datasets.base import ClipWork
from vrt.datasets.clips import ClipSpec
from vrt.datasets.decoders import frame_folder_info, read_frame_images
from vrt.datasets.pending import PendingClip
from vrt.datasets.transforms import ClipRecipe, transform_frames
from vrt.errors import VideoDecodeError
from vrt.io.frames import list_frame_files, read_frame_bytes
from vrt.io.rgb import scaled_size


@dataclass(frozen=True)
class ClipPlan:
    """One clip with its random choices made: the frames to read and what to do with them.

    ``kind`` is ``"video"`` (a video file) or ``"frames"`` (a folder of frame images);
    ``size`` is the (width, height) of the stored frames, which ``recipe`` was drawn for.
    """

    path: Path
    kind: str
    video_id: str
    indices: tuple[int, ...]
    size: tuple[int, int]
    recipe: ClipRecipe


class ClipReader:
    """Reads clips of video files and frame folders as one :class:`ClipSpec` says: its sampler,
    decoder, transform and pipeline.

    Video lengths and sizes and frame listings are kept (per process: each DataLoader worker
    fills its own), so that epochs and test-time clips after the first open or list each video
    once. Only :meth:`plan` fills them; :meth:`carry_out` may run in several threads at once.
    """

    def __init__(self, clips: ClipSpec) -> None:
        self.clips = clips
        self._shapes: dict[Path, tuple[int, int, int]] = {}  # (frames, width, height)
        self._frame_files: dict[Path, list[Path]] = {}

    def plan(
        self,
        path: Path,
        kind: str,
        *,
        training: bool,
        clip: int = 0,
        num_clips: int = 1,
        span: tuple[int, int] | None = None,
        video_id: str | None = None,
    ) -> ClipPlan:
        """Clip ``clip`` of ``num_clips`` of the video at ``path``, its random choices drawn from
        torch's global RNG; ``span`` ``(first, stop)`` samples it from those frames only (a
        segment of a long video), clamped to the video.

        Raises:
            VideoDecodeError: the video cannot be opened or listed, or has no frames.
        """
        length, width, height = self._shape(path, kind)
        first, stop = (0, length) if span is None else (min(span[0], length - 1), min(span[1], length))
        picked = self.clips.sampler(max(stop - first, 1), training=training, clip=clip, num_clips=num_clips)
        # The recipe after the sampler, from the same RNG: the order of draws a seed's clips rely on.
        recipe = self.clips.transform(training=training).draw(height, width)
        return ClipPlan(
            path=path,
            kind=kind,
            video_id=str(path) if video_id is None else video_id,
            indices=tuple(first + i for i in picked),
            size=(width, height),
            recipe=recipe,
        )

    def work(self, plan: ClipPlan) -> ClipWork:
        """:meth:`carry_out` of ``plan``, to be called by ``ClipView``, in a thread where that pays:
        decoding a video, or frame images that are not stored at the clips' scale. Frames stored
        at that scale loaded slower in threads (docs/benchmarks.md); with the device pipeline
        the loader only reads the frame files' bytes, which is not decoding either."""
        if plan.kind == "video":
            pays = True
        else:
            short = self.clips.resize_short
            pays = self.clips.pipeline == "cpu" and scaled_size(*plan.size, short) != plan.size
        return ClipWork(functools.partial(self.carry_out, plan), pays_in_a_thread=pays)

    def carry_out(self, plan: ClipPlan) -> torch.Tensor | PendingClip:
        """The planned clip as ``data.pipeline`` wants it from the loader: transformed
        (``cpu``), or what the device finishes (``device``: a frame folder's encoded files, or
        a video's decoded frames, with the recipe)."""
        if self.clips.pipeline == "cpu":
            return self.transformed(plan)
        if plan.kind == "video":  # FFmpeg decodes on the CPU
            return PendingClip(plan.recipe, plan.video_id, str(plan.path), frames=self._decoded(plan))
        with _unreadable("read", plan.path):
            encoded = read_frame_bytes(self._frame_files[plan.path], plan.indices)
        return PendingClip(
            plan.recipe, plan.video_id, str(plan.path), encoded=tuple(encoded[i] for i in plan.indices)
        )

    def transformed(self, plan: ClipPlan) -> torch.Tensor:
        """The planned clip, decoded and transformed here: float32 ``(C, T, H, W)``."""
        return transform_frames(self._decoded(plan), plan.recipe)

    def _shape(self, path: Path, kind: str) -> tuple[int, int, int]:
        if path not in self._shapes:
            with _unreadable("read", path):
                if kind == "video":
                    info = self.clips.decoder.probe(path)
                else:
                    files = self._frame_files[path] = list_frame_files(path)
                    info = frame_folder_info(path, files)
            shape = (info.num_frames, info.width, info.height)
            if shape[0] < 1:
                raise VideoDecodeError(f"{path} has no frames")
            self._shapes[path] = shape
        return self._shapes[path]

    def _decoded(self, plan: ClipPlan) -> np.ndarray | torch.Tensor:
        """The planned frames as uint8 ``(T, H, W, 3)``, checked against the size planned for."""
        with _unreadable("decode", plan.path):
            if plan.kind == "video":
                frames = self.clips.decoder.read(plan.path, plan.indices, short_side=self.clips.resize_short)
            else:
                frames = read_frame_images(self._frame_files[plan.path], plan.indices)
        height, width = frames.shape[1:3]
        short = self.clips.resize_short
        if scaled_size(width, height, short) != scaled_size(*plan.size, short):
            # The crop was drawn for the planned size; on other frames it would cut elsewhere.
            where = "the stream" if plan.kind == "video" else "the first frame"
            raise VideoDecodeError(
                f"{plan.path}: frames of {width}x{height}, where {where} is {plan.size[0]}x{plan.size[1]}"
            )
        return frames


@contextmanager
def _unreadable(doing: str, path: Path) -> Iterator[None]:
    """Any failure inside as a VideoDecodeError naming ``path``: PyAV, PIL and the OS raise many
    types, and all of them mean that this video cannot be used."""
    try:
        yield
    except VideoDecodeError:
        raise
    except Exception as error:  # noqa: BLE001 - see above
        raise VideoDecodeError(f"cannot {doing} {path}: {type(error).__name__}: {error}") from error

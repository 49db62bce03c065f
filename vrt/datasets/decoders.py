"""Turning stored frames into uint8 arrays: video decoders (``data.decoder``) and frame images.

A video decoder reads the frames a clip needs from a video file: ``pyav`` (the default; seeks
to the frames, converts and optionally scales them in one swscale pass) or ``torchcodec``
(PyTorch's FFmpeg-based decoder, an optional extra that needs FFmpeg's shared libraries). At
the stored size both give the same pixels (FFmpeg decodes, swscale converts; tested). Frame
folders of JPEGs are decoded by libjpeg-turbo through ``decode_jpeg`` (torchcodec's, else
torchvision's), many files per call and on any device, which gives Pillow's pixels in less time.

Every reader returns ``(T, H, W, 3)`` uint8, what :class:`~vrt.datasets.transforms.ClipTransform` takes.
"""

from __future__ import annotations

import functools
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vrt.errors import VideoDecodeError
from vrt.io.extract import recorded_fps
from vrt.io.frames import image_size, list_frame_files, read_frame_bytes, read_frames
from vrt.io.video import VideoInfo, decodable_frames, probe_video, read_video_frames
from vrt.registry import DECODERS

if TYPE_CHECKING:
    import torch

# The start of the DeprecationWarning torchvision gives on each call of its image decoders, which
# vrt uses on purpose without torchcodec. One filter, set at import: warnings.catch_warnings
# around each call is not thread-safe (clips decode in several threads), and a filter set on
# first use would be lost if that use came inside someone's catch_warnings block.
_TORCHVISION_DEPRECATION = "The image decoding and encoding capabilities of TorchVision are deprecated"
warnings.filterwarnings("ignore", message=_TORCHVISION_DEPRECATION, category=DeprecationWarning)
TORCHCODEC_MISSING = (
    "the torchcodec decoder needs the torchcodec package and FFmpeg's shared libraries "
    "(4 to 8): pip install 'vrt[torchcodec]' and, e.g., apt-get install ffmpeg"
)


class ClipDecoder(ABC):
    """Reads the frames of a clip from a video file.

    ``short_side`` asks for frames scaled so that their shorter side has that many pixels (the
    size :func:`~vrt.io.rgb.scaled_size` gives); a decoder that cannot scale for less than
    the transform's resize costs returns the stored size, which the transform then resizes.
    """

    @abstractmethod
    def probe(self, path: Path) -> VideoInfo:
        """The video's frame count (as the sampler should see it) and stored frame size."""

    @abstractmethod
    def read(
        self, path: Path, indices: Sequence[int], *, short_side: int | None
    ) -> np.ndarray | torch.Tensor:
        """The frames at ``indices`` (non-decreasing) as uint8 ``(T, H, W, 3)``."""

    def decodable_frames(self, path: Path) -> int:
        """How many frames of the video decode: fewer than ``probe`` says when the file was cut
        short after a header that states its whole length. Reads the whole file (decoding only
        its last keyframe's frames), so it is asked only when windows in seconds are cut."""
        return decodable_frames(path)


class PyAVDecoder(ClipDecoder):
    """PyAV: decodes from the keyframe before each run of frames, converts (and scales) with swscale."""

    def __init__(self, *, threads: int = 1, scale: bool = True) -> None:
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0: FFmpeg's choice), got {threads}")
        self.threads = threads
        self.scale = scale

    def probe(self, path: Path) -> VideoInfo:
        return probe_video(path)

    def read(self, path: Path, indices: Sequence[int], *, short_side: int | None) -> np.ndarray:
        return read_video_frames(
            path, indices, short_side=short_side if self.scale else None, threads=self.threads
        )

    def __repr__(self) -> str:
        return f"PyAVDecoder(threads={self.threads}, scale={self.scale})"


class TorchCodecDecoder(ClipDecoder):
    """torchcodec's ``VideoDecoder``: frame-exact seeking from an index it builds when opening a file."""

    def __init__(self, *, threads: int = 1, seek_mode: Literal["exact", "approximate"] = "exact") -> None:
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0: FFmpeg's choice), got {threads}")
        if seek_mode not in ("exact", "approximate"):
            raise ValueError(f"seek_mode must be 'exact' or 'approximate', got {seek_mode!r}")
        torchcodec_decoder_class()  # fail now, with the remedy, rather than in a DataLoader worker
        self.threads = threads
        self.seek_mode = seek_mode

    def _open(self, path: Path):  # noqa: ANN202 - torchcodec's type, imported on use
        if not path.is_file():
            raise VideoDecodeError(f"{path}: no such video file")
        try:
            return torchcodec_decoder_class()(
                str(path), dimension_order="NHWC", num_ffmpeg_threads=self.threads, seek_mode=self.seek_mode
            )
        except (RuntimeError, ValueError) as error:
            raise VideoDecodeError(f"{path}: cannot open as a video ({decoder_message(error)})") from error

    def probe(self, path: Path) -> VideoInfo:
        metadata = self._open(path).metadata
        if not metadata.num_frames:
            raise VideoDecodeError(f"{path}: the video stream has no frames")
        return VideoInfo(
            num_frames=int(metadata.num_frames),
            fps=float(metadata.average_fps or 0.0),
            width=int(metadata.width),
            height=int(metadata.height),
        )

    def read(self, path: Path, indices: Sequence[int], *, short_side: int | None) -> torch.Tensor:
        decoder = self._open(path)
        last = len(decoder) - 1
        try:
            # As with PyAV, an index past the last frame gets the last frame.
            return decoder.get_frames_at([min(int(i), last) for i in indices]).data
        except (RuntimeError, ValueError, IndexError) as error:
            raise VideoDecodeError(
                f"{path}: cannot decode the clip's frames ({decoder_message(error)})"
            ) from error

    def __repr__(self) -> str:
        return f"TorchCodecDecoder(threads={self.threads}, seek_mode={self.seek_mode!r})"


def decoder_message(error: BaseException) -> str:
    """A decoding library's error without the C++ source location torchcodec and torchvision prefix."""
    return str(error).rsplit(".cpp:", 1)[-1].lstrip("0123456789, ") or type(error).__name__


def torchcodec_decoder_class() -> type:
    """torchcodec's ``VideoDecoder``, or a ValueError saying how to install it."""
    try:
        from torchcodec.decoders import VideoDecoder
    except (ImportError, OSError, RuntimeError) as error:  # no package, or no FFmpeg libraries
        raise ValueError(TORCHCODEC_MISSING) from error
    return VideoDecoder


@DECODERS.register("pyav")
def pyav(*, threads: int = 1, scale: bool = True) -> PyAVDecoder:
    """PyAV (FFmpeg): seeks to the clip's frames; scales them while converting them to RGB."""
    return PyAVDecoder(threads=threads, scale=scale)


@DECODERS.register("torchcodec")
def torchcodec(
    *, threads: int = 1, seek_mode: Literal["exact", "approximate"] = "exact"
) -> TorchCodecDecoder:
    """torchcodec (FFmpeg): frame-exact seeking from a scan of the file (optional extra)."""
    return TorchCodecDecoder(threads=threads, seek_mode=seek_mode)


def decode_images(
    encoded: Sequence[torch.Tensor], *, device: torch.device | str = "cpu"
) -> list[torch.Tensor]:
    """JPEG or PNG files' bytes (uint8 1-D tensors) -> RGB uint8 ``(H, W, 3)`` images on ``device``.

    JPEGs are decoded in one call (a batch for nvJPEG on a GPU); other formats one by one on
    the CPU. Grey, palette and RGBA images come out as RGB, as Pillow's ``convert("RGB")``
    makes them, with Pillow's pixels (both use libjpeg-turbo; tested).

    Raises:
        RuntimeError: a file that cannot be decoded.
    """
    decode_jpeg, decode_image, rgb = _image_decoders()
    jpeg = [i for i, data in enumerate(encoded) if len(data) > 2 and data[0] == 0xFF and data[1] == 0xD8]
    images: list[torch.Tensor | None] = [None] * len(encoded)
    if jpeg:
        decoded = decode_jpeg([encoded[i] for i in jpeg], mode=rgb, device=device)
        for i, image in zip(jpeg, decoded, strict=True):
            images[i] = image
    for i, data in enumerate(encoded):
        if images[i] is None:
            images[i] = decode_image(data, mode=rgb).to(device)
    # (3, H, W) views of (H, W, 3) memory come back as that memory: no copy.
    return [image.permute(1, 2, 0) for image in images if image is not None]


@functools.cache
def _image_decoders() -> tuple[Callable, Callable, Any]:
    """torchcodec's image decoders where torchcodec is installed, else torchvision's.

    torchvision 0.29 deprecated its image decoding in favour of torchcodec's (same
    libjpeg-turbo and nvJPEG underneath, same pixels); it still ships it, so vrt uses it without
    the optional torchcodec, and silences the warning it gives on every call with one filter
    for that message, set when this module is imported (see ``_TORCHVISION_DEPRECATION``).
    """
    try:
        from torchcodec.decoders import decode_image, decode_jpeg

        return decode_jpeg, decode_image, "RGB"
    except (ImportError, OSError, RuntimeError):
        from torchvision.io import ImageReadMode, decode_image, decode_jpeg

        return decode_jpeg, decode_image, ImageReadMode.RGB


def read_frame_images(files: Sequence[str | Path], indices: Sequence[int]) -> torch.Tensor:
    """The images ``files[i]`` for ``i`` in ``indices`` as uint8 RGB ``(len(indices), H, W, 3)``.

    vrt's one frame reader (:func:`vrt.io.frames.read_frames`: same files, same checks, same
    errors) with libjpeg-turbo through torchvision as the decoder, whose pixels are Pillow's.

    Raises:
        IndexError: an index outside ``files``.
        VideoDecodeError: an image is missing, unreadable, or of another size than the first.
    """
    import torch

    return torch.stack(read_frames(files, indices, decode=_decode_tensors))


def _decode_tensors(encoded: Sequence[np.ndarray], files: Sequence[Path]) -> list[torch.Tensor]:
    import torch

    try:
        return decode_images([torch.from_numpy(data) for data in encoded])
    except RuntimeError:
        return [
            _decode_one(file, data) for data, file in zip(encoded, files, strict=True)
        ]  # find the culprit


def _decode_one(file: Path, data: np.ndarray) -> torch.Tensor:
    import torch

    try:
        return decode_images([torch.from_numpy(data)])[0]
    except RuntimeError as error:
        raise VideoDecodeError(f"{file}: cannot read the frame ({decoder_message(error)})") from error


def probe_item(path: Path, kind: str, decoder: ClipDecoder) -> VideoInfo:
    """Frame count, frame rate and size of a video file (through ``decoder``, the one that will
    read its clips) or of a frame folder.

    Raises:
        VideoDecodeError: the video cannot be opened, or the folder holds no readable frame.
    """
    if kind == "video":
        return decoder.probe(path)
    try:
        return frame_folder_info(path, list_frame_files(path))
    except VideoDecodeError:
        raise
    except OSError as error:
        raise VideoDecodeError(f"cannot read {path}: {error.strerror or error}") from error


def frame_folder_info(folder: Path, files: list[Path]) -> VideoInfo:
    """A frame folder's length and frame size (of its first frame: the decoders check every
    clip's frames against it), and the rate ``vrt prepare frames`` recorded (0 if none: such a
    folder cannot be cut into windows of seconds)."""
    if not files:
        raise VideoDecodeError(f"{folder} has no frames")
    width, height = image_size(read_frame_bytes(files, [0])[0], source=folder)
    return VideoInfo(num_frames=len(files), fps=recorded_fps(folder), width=width, height=height)

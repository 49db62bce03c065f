"""Decoded video frames to RGB: one swscale context per clip (or per extracted video), scaling on the way if asked.

Used by the clip reader (:mod:`vrt.io.video`) and by frame extraction (:mod:`vrt.io.extract`),
so that frames scaled while decoding and frames prepared at a short side are the same pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import av

# swscale's bilinear filter widens with the shrink factor (it averages what a target pixel
# covers), which keeps it closest to torchvision's antialiased resize: within a grey level or two.
SCALE_INTERPOLATION = "BILINEAR"


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) with the shorter side at ``short_side`` and the aspect ratio kept.

    The longer side is rounded down, as torchvision's ``Resize(short_side)`` does, so frames
    scaled by the decoder or stored at that size are the size the clip transform would make
    them (its resize is then a no-op and its crops fall on the same pixels). ``None`` or 0
    keeps the size.
    """
    if not short_side:
        return width, height
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


class RgbConverter:
    """Converts the frames of one clip (or one video being extracted) to RGB of one size, reusing
    one swscale context.

    PyAV's ``frame.to_ndarray(width=..., height=...)`` builds a new swscale context for every
    frame, with a pool of threads (PyAV's default), which costs more than decoding an MPEG-4
    frame; one reformatter per clip or video keeps its context, and one thread, since a frame is too
    small to share out (and DataLoader workers already use every core). The first frame
    converted fixes the size (scaled to ``short_side`` if given), so a stream that changes
    resolution midway still gives a clip that stacks.
    """

    __slots__ = ("_reformatter", "_short_side", "_size")

    def __init__(self, short_side: int | None) -> None:
        from av.video.reformatter import VideoReformatter

        self._reformatter = VideoReformatter()
        self._short_side = short_side
        self._size: tuple[int, int] | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the converted frames, once the first one is converted."""
        return self._size

    def convert(self, frame: av.VideoFrame) -> av.VideoFrame:
        """``frame`` as an RGB frame of the clip's size (``to_image()`` gives a Pillow image)."""
        if self._size is None:
            self._size = scaled_size(frame.width, frame.height, self._short_side)
        width, height = self._size
        return self._reformatter.reformat(
            frame, width=width, height=height, format="rgb24", interpolation=SCALE_INTERPOLATION, threads=1
        )

    def rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """``frame`` as a ``(H, W, 3)`` uint8 array of the clip's size."""
        return self.convert(frame).to_ndarray()


class PendingRgb:
    """A decoded frame converted to RGB at most once, and only if some target uses it."""

    __slots__ = ("_converter", "_frame", "_rgb")

    def __init__(self, frame: av.VideoFrame, converter: RgbConverter) -> None:
        self._frame = frame
        self._rgb: np.ndarray | None = None
        self._converter = converter

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self._converter.rgb(self._frame)
        return self._rgb

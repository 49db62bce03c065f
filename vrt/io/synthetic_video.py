"""Small real video files and frame folders for tests and benchmarks, with readable frame numbers.

Every frame carries its own index, written as three base-8 digits in horizontal grey bands
across the top of the frame (band brightness ``16 + 32 * digit``). Levels 32 apart survive
lossy codecs and 4:2:0 chroma subsampling, so ``frame_number`` can tell which frame a decoder
really returned, which is what tests of seeking and frame selection need. Below the bands, a
bright square moves over seeded noise (fixed per video) so that consecutive frames also
differ in content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_DIGITS = 3
_BASE = 8
_LEVEL_OFFSET, _LEVEL_STEP = 16, 32
MAX_FRAMES = _BASE**_DIGITS
MIN_SIZE = 16
# The fraction of the height given to the digit bands (the rest is the moving square on noise).
_BANDS_FRACTION = 0.5


def pattern_frame(index: int, *, size: tuple[int, int] = (32, 32), seed: int = 0) -> np.ndarray:
    """Frame ``index`` of the test pattern as uint8 ``(height, width, 3)``; ``size`` is (width, height)."""
    width, height = size
    if width < MIN_SIZE or height < MIN_SIZE:
        raise ValueError(f"test frames need at least {MIN_SIZE}x{MIN_SIZE} pixels, got {width}x{height}")
    if not 0 <= index < MAX_FRAMES:
        raise ValueError(f"frame numbers are written as {_DIGITS} base-{_BASE} digits: index < {MAX_FRAMES}")
    # The noise is the video's, not the frame's: per-frame noise cannot be compressed, which
    # would make decoding these files far slower than decoding real footage.
    frame = np.random.default_rng(seed).integers(0, 64, size=(height, width, 3), dtype=np.uint8)
    for row_start, row_stop, digit in _bands(index, height):
        frame[row_start:row_stop] = _LEVEL_OFFSET + _LEVEL_STEP * digit
    bands_end = _bands(0, height)[-1][1]
    side = max(min(width, height - bands_end) // 3, 2)
    left = (index * 3) % max(width - side, 1)
    top = bands_end + (height - bands_end - side) // 2
    frame[top : top + side, left : left + side] = 255
    return frame


def frame_number(frame: np.ndarray) -> int:
    """The index that ``pattern_frame`` wrote into ``frame`` (uint8 ``(H, W, 3)`` or ``(H, W)``)."""
    pixels = np.asarray(frame, dtype=np.float64)
    if pixels.ndim == 3:
        pixels = pixels.mean(axis=2)
    height, width = pixels.shape
    number = 0
    for row_start, row_stop, _ in _bands(0, height):
        # The band's middle rows and columns: its edges blur into the neighbours under lossy codecs.
        middle = (row_start + row_stop) // 2
        level = pixels[middle, width // 4 : width - width // 4].mean()
        digit = int(np.clip(round((level - _LEVEL_OFFSET) / _LEVEL_STEP), 0, _BASE - 1))
        number = number * _BASE + digit
    return number


def _bands(index: int, height: int) -> list[tuple[int, int, int]]:
    """(first row, stop row, digit) of each band, most significant digit first."""
    band_height = int(height * _BANDS_FRACTION) // _DIGITS
    digits = [(index // _BASE**power) % _BASE for power in reversed(range(_DIGITS))]
    return [(i * band_height, (i + 1) * band_height, digit) for i, digit in enumerate(digits)]


def write_test_video(
    path: str | Path,
    *,
    num_frames: int = 8,
    size: tuple[int, int] = (32, 32),
    fps: int = 25,
    codec: str = "mpeg4",
    seed: int = 0,
    grayscale: bool = False,
    keyframe_interval: int = 12,
) -> Path:
    """Write ``num_frames`` frames of the test pattern as a real video file; returns its path.

    The container follows the file name (``.avi``, ``.mp4``, ``.mkv`` ...). ``mpeg4`` and
    ``mjpeg`` go in AVI like UCF101 and HMDB51; ``libx264`` needs even sizes and an MP4/MKV
    container; ``grayscale`` needs a codec with a grey pixel format (``ffv1`` or ``png``).
    ``size`` is (width, height); odd sizes work with mpeg4, mjpeg, ffv1 and png.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    try:
        formats = [f.name for f in av.codec.Codec(codec, "w").video_formats or ()]
    except Exception as error:  # PyAV raises a codec-specific error type per build
        raise ValueError(f"this PyAV build cannot encode {codec!r}: {error}") from error
    if grayscale:
        pix_fmt = "gray"
    elif codec == "mjpeg":
        pix_fmt = "yuvj420p"  # full-range JPEG; its yuv420p needs "unofficial" strictness
    elif "yuv420p" in formats or not formats:
        pix_fmt = "yuv420p"
    else:
        pix_fmt = formats[0]
    if formats and pix_fmt not in formats:
        raise ValueError(f"codec {codec!r} cannot write {pix_fmt}; it supports {', '.join(formats)}")

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        stream.codec_context.gop_size = keyframe_interval
        # Near-lossless, so the frame-number bands read back exactly; the files stay tiny anyway.
        stream.codec_context.bit_rate = 20_000_000
        if codec in ("mpeg4", "mjpeg"):
            stream.codec_context.qmin, stream.codec_context.qmax = 1, 3
        for index in range(num_frames):
            pixels = pattern_frame(index, size=size, seed=seed)
            if grayscale:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[..., 0]), format="gray")
            else:
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_frame_folder(
    folder: str | Path,
    num_frames: int = 8,
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
    *,
    ext: str = "png",
    name_format: str = "{:05d}",
    start: int = 1,
) -> list[Path]:
    """Write the test pattern as ``00001.png``, ``00002.png`` ... (1-based, like JHMDB); returns the files.

    ``name_format`` changes the stem (``"img_{:05d}"`` for the TSN layout); frame ``i`` of the
    pattern goes to number ``start + i``.
    """
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(num_frames):
        file = folder / f"{name_format.format(start + index)}.{ext.lstrip('.')}"
        Image.fromarray(pattern_frame(index, size=size, seed=seed)).save(file, quality=95)
        files.append(file)
    return files

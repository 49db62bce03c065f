"""Writing the frames of one video into a folder of images, all or nothing.

A frame folder is built in a hidden temporary folder beside its destination, finished with a
``.done`` marker and only then renamed into place, so an interrupted extraction never leaves a
folder that looks complete: readers and ``vrt prepare frames --resume`` can trust that a folder
with a marker holds every frame. The marker is a small JSON record (frame count, frame rate,
size) for tools that want the numbers without listing the folder.

This module imports no torch, so the worker processes of ``vrt prepare frames`` start fast.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vrt.errors import VideoDecodeError
from vrt.io.rgb import RgbConverter
from vrt.io.video import iter_video_frames, probe_video

DONE_MARKER = ".done"
PARTIAL_TAG = ".partial-"  # temporary folders are named ".<destination name>.partial-<random>"


def is_extracted(folder: str | Path) -> bool:
    """Whether ``folder`` is a finished frame folder (it has the ``.done`` marker)."""
    return (Path(folder) / DONE_MARKER).is_file()


def extraction_options(*, short_side: int | None, fps: float | None, ext: str, quality: int) -> dict:
    """The options a finished folder's marker records (quality only for JPEGs, where it applies)."""
    options = {"short_side": short_side or None, "fps": fps, "ext": ext}
    return options | {"quality": quality} if ext == "jpg" else options


def recorded_options(folder: str | Path) -> dict | None:
    """The options a finished frame folder was extracted with; None if its marker does not say."""
    try:
        options = json.loads((Path(folder) / DONE_MARKER).read_text(encoding="utf-8")).get("options")
    except (OSError, ValueError, AttributeError):
        return None
    return options if isinstance(options, dict) else None


def recorded_fps(folder: str | Path) -> float:
    """The frame rate a finished frame folder's frames were written at; 0 if its marker does not say."""
    try:
        fps = float(json.loads((Path(folder) / DONE_MARKER).read_text(encoding="utf-8")).get("fps") or 0.0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0
    return fps if fps > 0 else 0.0


def extract_frames(
    video: str | Path,
    folder: str | Path,
    *,
    short_side: int | None = 128,
    fps: float | None = None,
    ext: Literal["jpg", "png"] = "jpg",
    quality: int = 90,
) -> int:
    """Write the frames of ``video`` as ``folder/00001.jpg, 00002.jpg ...``; returns how many.

    Args:
        short_side: scale every frame so its shorter side has this many pixels (aspect kept);
            ``None`` or 0 keeps the original size.
        fps: resample to this frame rate (nearest source frame for each output time); ``None``
            keeps every decoded frame.
        ext: ``jpg`` (small, lossy; ``quality`` applies) or ``png`` (lossless, larger).
        quality: JPEG quality, 1-100 (Pillow's scale; 90 keeps compression artefacts below
            what the clip transform's resize blurs).

    An existing ``folder`` is replaced only once the new frames are complete.

    Raises:
        VideoDecodeError: the video cannot be opened or no frame decodes.
    """
    video, folder = Path(video), Path(folder)
    if ext not in ("jpg", "png"):
        raise ValueError(f"ext must be 'jpg' or 'png', got {ext!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must lie in [1, 100], got {quality}")
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    info = probe_video(video)
    if fps is not None and info.fps <= 0:
        raise ValueError(f"{video}: the video states no frame rate, so it cannot be resampled to {fps} fps")
    save_options = {"quality": quality} if ext == "jpg" else {}

    folder.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: its 0700 folder, once renamed, would hide the frames from teammates.
    partial = folder.parent / f".{folder.name}{PARTIAL_TAG}{os.getpid()}-{secrets.token_hex(4)}"
    partial.mkdir()
    try:
        written = 0
        # The size and filter of read_video_frames(short_side=...), so that frames stored at the
        # clip transform's short side are the frames a scaling decoder would give it; one swscale
        # context for the video, in one thread, as the workers already convert a video each.
        converter = RgbConverter(short_side)
        for index, frame in iter_video_frames(video):
            if index < 0:
                continue  # decoder pre-roll, timed before the stream starts: players never show it
            # Output frame k shows time k / fps; it takes the source frame nearest that time, so
            # a lower rate drops frames and a higher one repeats them.
            copies = 1 if fps is None else _copies(index, written, info.fps, fps)
            if copies == 0:
                continue
            picture = converter.convert(frame).to_image()
            for _ in range(copies):
                written += 1
                picture.save(partial / f"{written:05d}.{ext}", **save_options)
        if written == 0:
            raise VideoDecodeError(f"{video}: no frame is timed inside the video")
        marker = {
            "frames": written,
            "fps": fps or info.fps,
            "width": converter.size[0],
            "height": converter.size[1],
            "source": video.name,
            "options": extraction_options(short_side=short_side, fps=fps, ext=ext, quality=quality),
        }
        (partial / DONE_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)  # a folder without a marker, or an older extraction being redone
        os.rename(partial, folder)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return written


def _copies(index: int, written: int, source_fps: float, fps: float) -> int:
    """How many output frames, after ``written`` of them, take source frame ``index``."""
    copies = 0
    # Output k takes the source frame nearest its time: round(k * source_fps / fps) <= index.
    while math.floor((written + copies) * source_fps / fps + 0.5) <= index:
        copies += 1
    return copies


def remove_partial_folders(parent: str | Path) -> int:
    """Delete the temporary folders that killed extractions left in ``parent``; returns how many."""
    parent = Path(parent)
    if not parent.is_dir():
        return 0
    removed = 0
    for entry in parent.iterdir():
        if entry.name.startswith(".") and PARTIAL_TAG in entry.name and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


@dataclass(frozen=True)
class ExtractResult:
    """How one video's extraction went: ``error`` is ``None`` on success."""

    video: Path
    folder: Path
    frames: int = 0
    error: str | None = None


def try_extract_frames(
    video: Path,
    folder: Path,
    *,
    short_side: int | None,
    fps: float | None,
    ext: Literal["jpg", "png"],
    quality: int = 90,
) -> ExtractResult:
    """``extract_frames`` that reports any failure instead of raising, for a pool of workers.

    One bad video must not end a conversion of thousands, so every exception becomes the
    result's ``error`` (an interrupt still propagates).
    """
    try:
        frames = extract_frames(video, folder, short_side=short_side, fps=fps, ext=ext, quality=quality)
    except Exception as error:
        reason = str(error) if isinstance(error, VideoDecodeError) else f"{type(error).__name__}: {error}"
        # The summary names the video already; the message's own copy of the path is noise there.
        reason = reason.removeprefix(f"{video}: ")
        return ExtractResult(video, folder, error=reason)
    return ExtractResult(video, folder, frames=frames)

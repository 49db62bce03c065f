"""Frames of a video by id, for pages that show what was retrieved.

Two sources:

* :func:`video_thumbnails` reads a few frames of the **source video** at its own aspect ratio
  (the window's frames for a ``path#t=START,END`` segment id), scaled down for a page. This is
  what a person recognises a video by; numpy, PyAV and Pillow only (no torch), so ``vrt eval``
  on code files and ``vrt search`` can show thumbnails without the training stack.
* :func:`clip_frames` returns the clip as the model saw it (the deterministic test transform),
  for datasets without files, such as the synthetic one.

:func:`dataset_thumbnails` picks the source frames for datasets of files and the clip otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from vrt.io.fragments import split_time_fragment

if TYPE_CHECKING:
    from vrt.datasets.base import VideoDataset

__all__ = ["THUMBNAIL_SIDE", "Thumbnails", "clip_frames", "dataset_thumbnails", "video_thumbnails"]

Thumbnails = Callable[[str], list[np.ndarray]]
THUMBNAIL_SIDE = 192  # pixels of the longer side
_FRAMES = 4  # frames read per video (or per segment)


def video_thumbnails(
    roots: Sequence[str | Path] = (),
    *,
    paths: Mapping[str, Path] | None = None,
    num_frames: int = _FRAMES,
    max_side: int = THUMBNAIL_SIDE,
    links_out: bool = True,
) -> Thumbnails:
    """A function from an id to ``num_frames`` frames of its source video, uint8 ``[H, W, 3]``.

    An id (less any ``#t=`` fragment) is looked up in ``paths`` first, then as a path relative to
    each of ``roots`` in turn; ids that are absolute or climb out of a root (``..``) are only
    found through ``paths``. ``links_out=False`` (a server's choice: ids come from the network)
    also refuses a path whose symbolic links lead out of its root. The frames are spread evenly over the video (or the segment) and
    scaled so that the longer side is at most ``max_side``, keeping the aspect ratio.
    """
    known = dict(paths or {})
    folders = [Path(root) for root in roots]

    def locate(base: str) -> Path:
        if base in known:
            return known[base]
        relative = PurePosixPath(base)
        if not relative.is_absolute() and ".." not in relative.parts:
            for folder in folders:
                candidate = folder / relative
                if candidate.exists() and (links_out or _inside(candidate, folder)):
                    return candidate
        raise KeyError(f"no video for id {base!r} under {', '.join(map(str, folders)) or 'no folder'}")

    def frames(item_id: str) -> list[np.ndarray]:
        base, window = split_time_fragment(item_id)
        if base not in known and item_id in known:  # a file whose name merely looks like a fragment
            base, window = item_id, None
        return [_scaled(frame, max_side) for frame in _read_frames(locate(base), window, num_frames)]

    return frames


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, links resolved, lies in ``root``; for a frame folder, each of its files too."""
    base = root.resolve()
    if not path.resolve().is_relative_to(base):
        return False
    return not path.is_dir() or all(entry.resolve().is_relative_to(base) for entry in path.iterdir())


def _read_frames(path: Path, window: tuple[float, float] | None, count: int) -> np.ndarray:
    from vrt.io.frames import list_frame_files, read_frame_files
    from vrt.io.video import probe_video, read_video_frames

    if path.is_dir():
        files = list_frame_files(path)
        return read_frame_files(files, _spread(0, len(files), count))
    info = probe_video(path)
    first, stop = 0, info.num_frames
    if window is not None and info.fps > 0:
        first = min(round(window[0] * info.fps), info.num_frames - 1)
        stop = max(min(round(window[1] * info.fps), info.num_frames), first + 1)
    return read_video_frames(path, _spread(first, stop, count))


def _spread(first: int, stop: int, count: int) -> list[int]:
    """``count`` frame indices evenly over ``[first, stop)``, each at the middle of its share."""
    length = max(stop - first, 1)
    return sorted({first + (2 * i + 1) * length // (2 * count) for i in range(count)})


def _scaled(frame: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    height, width = frame.shape[:2]
    if max(height, width) <= max_side:
        return np.ascontiguousarray(frame)
    image = Image.fromarray(frame)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image)


def clip_frames(datasets: Iterable[VideoDataset]) -> Thumbnails:
    """A function from a video id to its clip's frames, uint8 ``[H, W, 3]`` each.

    The clips are loaded with the deterministic test-time transform (``training=False``), the
    same the codes were computed from, so a thumbnail shows what the model saw. Ids are looked
    up in ``datasets`` in order (the first that has an id wins).
    """
    import torch

    where: dict[str, tuple[VideoDataset, int]] = {}
    for dataset in datasets:
        for index, video_id in enumerate(dataset.ids):
            where.setdefault(video_id, (dataset, index))

    def frames(video_id: str) -> list[np.ndarray]:
        if video_id not in where:
            raise KeyError(f"no video with id {video_id!r}")
        dataset, index = where[video_id]
        clip = dataset.load_clip(index, training=False)  # (C, T, H, W) in [0, 1]
        pixels = (clip.permute(1, 2, 3, 0).clamp(0, 1) * 255).round().to(torch.uint8)
        return list(pixels.cpu().numpy())

    return frames


def dataset_thumbnails(datasets: Sequence[VideoDataset]) -> Thumbnails:
    """Source frames of the videos of file-backed datasets, the model's clips of the others."""
    paths: dict[str, Path] = {}
    for dataset in datasets:
        for video_id, path in zip(dataset.ids, getattr(dataset, "paths", ()), strict=False):
            paths.setdefault(video_id, Path(path))
    from_files = video_thumbnails(paths=paths)
    from_clips = clip_frames(datasets)

    def frames(video_id: str) -> list[np.ndarray]:
        return from_files(video_id) if video_id in paths else from_clips(video_id)

    return frames

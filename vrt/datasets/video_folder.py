"""A folder per class, ``<root>/<class>/<video>``, split into train/test by a seeded draw."""

from __future__ import annotations

from typing import Literal

from vrt.data.samplers import ClipSampler
from vrt.datasets.files import StorageMode, VideoFileDataset, check_subset, existing_folder
from vrt.datasets.splitfiles import scan_class_folders, stratified_split
from vrt.errors import VrtError
from vrt.registry import DATASETS


@DATASETS.register("video_folder")
def video_folder(
    *,
    subset: Literal["train", "test"],
    num_frames: int,
    frame_size: int,
    root: str,
    test_fraction: float = 0.3,
    seed: int = 0,
    storage: StorageMode = "auto",
    clip_sampler: ClipSampler | None = None,
    strict: bool = False,
) -> VideoFileDataset:
    """Class folders of videos or frame folders, split per class into train/test with a seed.

    Args:
        root: holds one folder per class; each holds video files (``.avi``, ``.mp4``, ``.mkv``,
            ...) and/or folders of frames, one per video. Hidden names are ignored.
        test_fraction: share of every class's videos that goes to test, in [0, 1); a class
            with two or more videos keeps at least one on each side.
        seed: the same folder contents and seed always give the same split.
        storage: ``video``, ``frames`` or ``auto``.
        subset, num_frames, frame_size, clip_sampler, strict: injected by vrt from ``data.*``.

    Labels are the sorted class folder names (0-based); videos stand alone (no groups).
    """
    subset = check_subset(subset)
    if not 0.0 <= test_fraction < 1.0:
        raise VrtError(f"data.dataset.test_fraction: must lie in [0, 1), got {test_fraction}")
    if seed < 0:
        raise VrtError(f"data.dataset.seed: must be non-negative, got {seed}")
    folder = existing_folder(root, key="data.dataset.root", expected="a folder with one folder per class")
    class_names, entries = scan_class_folders(folder)
    if not entries:
        raise VrtError(
            f"data.dataset.root: {folder.absolute()} holds no <class>/<video> files or frame folders"
        )
    train, test = stratified_split(entries, test_fraction=test_fraction, seed=seed)
    return VideoFileDataset(
        entries=train if subset == "train" else test,
        root=folder,
        class_names=class_names,
        storage=storage,
        clip_sampler=clip_sampler,
        num_frames=num_frames,
        frame_size=frame_size,
        strict=strict,
        name=f"video_folder {subset}",
    )

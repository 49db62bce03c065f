"""Fixture trees of UCF101, HMDB51 and JHMDB built from the real split files (not a test module).

The official split files live next to the repository in ``../shared/datasets``. A tree has one
entry per listed video, each a hard link to one tiny generated video (or to the frames of one
frame folder), so that 13,320 UCF101 "videos" cost a few megabytes and about a second. The
listed paths are read here with plain string handling, independently of the parsers under test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from vrt.io.synthetic_video import write_frame_folder, write_test_video

REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
UCF101_LISTS = SHARED_DATASETS / "ucf101" / "ucfTrainTestlist"
HMDB51_SPLITS = SHARED_DATASETS / "hmdb51" / "testTrainMulti_7030_splits"
JHMDB_SPLITS = SHARED_DATASETS / "jhmdb" / "splits"

VIDEO_FRAMES = 8
VIDEO_SIZE = (32, 32)


def require_split_files() -> None:
    """Skip the calling test when the official split files are not checked out beside the repo."""
    if not all(folder.is_dir() for folder in (UCF101_LISTS, HMDB51_SPLITS, JHMDB_SPLITS)):
        pytest.skip(f"the official UCF101/HMDB51/JHMDB split files are not in {SHARED_DATASETS}")


@dataclass(frozen=True)
class DatasetTree:
    root: Path  # data.dataset.root
    annotations: Path  # data.dataset.annotations
    paths: tuple[str, ...]  # every listed video, relative to root, as the split files spell it


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def ucf101_listed(split: int = 1) -> list[str]:
    return [
        line.split()[0]
        for name in (f"trainlist{split:02d}.txt", f"testlist{split:02d}.txt")
        for line in _lines(UCF101_LISTS / name)
    ]


def tagged_listed(annotations: Path, split: int = 1) -> list[str]:
    """Every video of every ``<class>_test_split<k>.txt`` (the unused ones too: they are on disk)."""
    suffix = f"_test_split{split}.txt"
    return [
        f"{file.name[: -len(suffix)]}/{line.split()[0]}"
        for file in sorted(annotations.glob(f"*{suffix}"))
        for line in _lines(file)
    ]


def link_files(root: Path, relative_paths: Iterable[str], source: Path) -> None:
    """``root/<path>`` as a hard link to ``source`` for every path (a copy where links fail)."""
    made: set[Path] = set()
    for relative in relative_paths:
        target = root / relative
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)


def link_frame_folders(root: Path, relative_folders: Iterable[str], frames: list[Path]) -> None:
    """``root/<folder>/00001.png ...`` hard-linked to ``frames`` for every folder."""
    for folder in relative_folders:
        link_files(root / folder, [frame.name for frame in frames], frames[0])
        for frame in frames[1:]:  # link_files linked every name to frames[0]; relink the rest
            target = root / folder / frame.name
            target.unlink()
            os.link(frame, target)


def write_source_video(folder: Path, name: str = "source.avi", **options) -> Path:
    options = {"num_frames": VIDEO_FRAMES, "size": VIDEO_SIZE, **options}
    return write_test_video(folder / name, **options)


def build_ucf101(base: Path, split: int = 1) -> DatasetTree:
    """``UCF-101/<Class>/<video>.avi`` for every video of ``split``, with the official lists."""
    listed = ucf101_listed(split)
    link_files(base / "UCF-101", listed, write_source_video(base))
    return DatasetTree(base / "UCF-101", UCF101_LISTS, tuple(listed))


def build_hmdb51(base: Path, split: int = 1) -> DatasetTree:
    """``videos/<class>/<video>.avi`` for every video named in the split files of ``split``."""
    listed = tagged_listed(HMDB51_SPLITS, split)
    link_files(base / "videos", listed, write_source_video(base))
    return DatasetTree(base / "videos", HMDB51_SPLITS, tuple(listed))


def build_jhmdb(base: Path, split: int = 1) -> DatasetTree:
    """Both archive layouts under ``base/JHMDB``: ``Rename_Images/<class>/<video>/00001.png ...``
    and ``ReCompress_Videos/<class>/<video>.avi``; the tree's root is ``Rename_Images``."""
    listed = tagged_listed(JHMDB_SPLITS, split)
    top = base / "JHMDB"
    frames = write_frame_folder(base / "source_frames", VIDEO_FRAMES, VIDEO_SIZE, 0)
    link_frame_folders(top / "Rename_Images", [path.removesuffix(".avi") for path in listed], frames)
    link_files(top / "ReCompress_Videos", listed, write_source_video(base))
    return DatasetTree(top / "Rename_Images", JHMDB_SPLITS, tuple(listed))

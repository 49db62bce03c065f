"""A folder per class, ``<root>/<class>/<video>``, split into train/test by a seeded draw."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import StorageMode, VideoFileDataset, check_subset, existing_folder
from vrt.datasets.listing import scan_class_folders
from vrt.datasets.splitfiles import SplitEntry, stratified_split
from vrt.errors import VrtError
from vrt.registry import DATASETS


@DATASETS.register("video_folder")
def video_folder(
    *,
    subset: Literal["train", "test"],
    clips: ClipSpec,
    root: str,
    test_fraction: float = 0.3,
    seed: int = 0,
    storage: StorageMode = "auto",
) -> VideoFileDataset:
    """Class folders of videos or frame folders, split per class into train/test with a seed.

    Args:
        root: holds one folder per class; each holds video files (``.avi``, ``.mp4``, ``.mkv``,
            ...) and/or folders of frames, one per video. Hidden names are ignored.
        test_fraction: share of every class's videos that goes to test, in [0, 1); a class
            with two or more videos keeps at least one on each side.
        seed: the same folder contents and seed always give the same split.
        storage: ``video``, ``frames`` or ``auto``.
        subset, clips: injected by vrt (the subset, and how clips are cut: ``data.*``).

    Labels are the sorted class folder names (0-based); videos stand alone (no groups). A file
    whose name is not valid UTF-8 (bytes from a legacy archive) cannot be named in the run's
    files, so it is skipped with a warning (an error when ``data.strict``); such a class folder is
    an error.
    """
    subset = check_subset(subset)
    if not 0.0 <= test_fraction < 1.0:
        raise VrtError(f"data.dataset.test_fraction: must lie in [0, 1), got {test_fraction}")
    if seed < 0:
        raise VrtError(f"data.dataset.seed: must be non-negative, got {seed}")
    folder = existing_folder(root, key="data.dataset.root", expected="a folder with one folder per class")
    class_names, entries = scan_class_folders(folder, warn=subset == "train")  # both subsets scan: warn once
    entries = _skip_undecodable_names(entries, class_names, folder=folder, subset=subset, strict=clips.strict)
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
        clips=clips,
        name=f"video_folder {subset}",
    )


def _skip_undecodable_names(
    entries: list[SplitEntry], class_names: list[str], *, folder: Path, subset: str, strict: bool
) -> list[SplitEntry]:
    """``entries`` without the names that are not UTF-8 (which ``os`` hands over as surrogates)."""
    bad_class = next((name for name in class_names if not _is_text(name)), None)
    if bad_class is not None:
        raise VrtError(
            f"data.dataset.root: the class folder {_printable(bad_class)} in {folder} has a name that "
            "is not valid UTF-8; rename it"
        )
    bad = [entry.path for entry in entries if not _is_text(entry.path)]
    if not bad:
        return entries
    shown = ", ".join(_printable(path) for path in bad[:5]) + (", ..." if len(bad) > 5 else "")
    message = f"video_folder: {len(bad)} file name(s) in {folder} are not valid UTF-8 ({shown})"
    if strict:
        raise VrtError(f"{message}; rename them (data.strict is true)")
    if subset == "train":  # both subsets scan the same folders: report once
        warnings.warn(f"{message}; they are skipped (rename them to use them)", stacklevel=3)
    return [entry for entry in entries if _is_text(entry.path)]


def _is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates (PEP 383)
        return False
    return True


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

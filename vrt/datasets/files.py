"""Datasets of video files or frame folders on disk: items, and items listed by split files.

:class:`ItemDataset` turns :class:`~vrt.datasets.items.Item` s into clips; every dataset on disk
is one. Every file-backed adapter (UCF101, HMDB51, JHMDB, video lists, class folders) reduces its
split files to :class:`~vrt.datasets.splitfiles.SplitEntry` lines and hands them to
:class:`VideoFileDataset`, which finds each video on disk, drops and reports the missing ones,
and keeps the rest as :class:`~vrt.datasets.items.Item` s of an item dataset.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Literal, get_args

import torch

from vrt.datasets.base import ClipWork, VideoDataset
from vrt.datasets.clips import ClipSpec
from vrt.datasets.items import Item, ItemKind
from vrt.datasets.listing import list_folder, skipped_message
from vrt.datasets.reader import ClipPlan, ClipReader
from vrt.datasets.splitfiles import SplitEntry
from vrt.errors import VrtError

StorageMode = Literal["auto", "video", "frames"]
Subset = Literal["train", "test"]
STORAGE_MODES: tuple[str, ...] = get_args(StorageMode)
_SHOWN = 5  # missing paths quoted in a message; the rest are counted


class _FolderIndex:
    """Finds paths under ``root`` from cached folder listings, loosely matched as a fallback.

    Listing each class folder once is much cheaper than one ``stat`` per listed video on a
    network file system (13,320 for UCF101). The fallback ignores case and Unicode
    normalisation: archives and frame extractors disagree with the split files on case, as
    UCF101's ``HandstandPushups``/``HandStandPushups`` shows they do, and names unpacked from a
    macOS archive spell ``é`` decomposed (NFD) where a list typed elsewhere has it composed (NFC).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[Path, dict[str, bool] | None] = {}
        # Folders that could not be listed, entries that could not be read: why videos may be missing.
        self.problems: list[str] = []

    def _listing(self, folder: Path) -> dict[str, bool] | None:
        """``{name: is_dir}`` of the regular files and folders in ``folder``; None if unreadable.

        Links are followed; an entry that cannot be read (a looping or dangling link) is left out
        and reported, the rest of the folder is listed.
        """
        if folder not in self._listings:
            try:
                listed = list_folder(folder)
            except OSError as error:
                if not isinstance(error, FileNotFoundError | NotADirectoryError):
                    self.problems.append(f"cannot list {folder} ({error.strerror or error})")
                self._listings[folder] = None
            else:
                if listed.skipped:
                    self.problems.append(skipped_message(folder, listed.skipped))
                self._listings[folder] = listed.entries
        return self._listings[folder]

    def find(self, relative: str, *, directory: bool) -> Path | None:
        folder = self.root
        parts = relative.split("/")
        for position, part in enumerate(parts):
            listing = self._listing(folder)
            if listing is None:
                return None
            want_dir = directory or position < len(parts) - 1
            if listing.get(part) is want_dir:
                folder = folder / part
                continue
            folded = _fold(part)
            matches = [
                name for name, is_dir in listing.items() if is_dir is want_dir and _fold(name) == folded
            ]
            if len(matches) != 1:  # absent, or ambiguous (only on case-sensitive file systems)
                return None
            folder = folder / matches[0]
        return folder


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def frame_folder_candidates(relative: str) -> list[str]:
    """Where the frames of a listed video may be: the path without its extension, else as listed."""
    path = PurePosixPath(relative)
    stem = str(path.with_suffix("")) if path.suffix else relative
    return [stem] if stem == relative else [stem, relative]


class ItemDataset(VideoDataset):
    """Items as a dataset: clips cut as ``clips`` says, in the order given.

    Args:
        items: the items; ids must be unique.
        clips: how clips are cut, decoded and transformed (``data.*``).
        class_names: the names of the labels; None when the labels are bare class numbers or
            every item is unlabelled (codes then carry no class names).
        name: how messages refer to these items.
    """

    def __init__(
        self,
        items: Sequence[Item],
        *,
        clips: ClipSpec,
        class_names: Sequence[str] | None = None,
        name: str = "items",
    ) -> None:
        self.items: list[Item] = list(items)
        self.clips = clips
        self.name = name
        labels = [item.label for item in self.items]
        self._named = class_names is not None
        if class_names is None:  # bare class numbers: names only to satisfy the label range check
            class_names = [str(label) for label in range(max(labels, default=-1) + 1)]
        groups = [item.group for item in self.items]
        super().__init__(
            class_names=class_names,
            labels=labels,
            ids=[item.id for item in self.items],
            groups=None if any(group is None for group in groups) else groups,
        )
        self._reader = ClipReader(clips)

    @property
    def paths(self) -> list[Path]:
        return [item.path for item in self.items]

    @property
    def kinds(self) -> list[str]:
        return [item.kind for item in self.items]

    def code_class_names(self) -> list[str] | None:
        return list(self.class_names) if self._named else None

    def load_clip(self, index: int, *, training: bool, clip: int = 0, num_clips: int = 1) -> torch.Tensor:
        return self._reader.transformed(self._plan(index, training=training, clip=clip, num_clips=num_clips))

    def plan_clip(self, index: int, *, training: bool, clip: int = 0, num_clips: int = 1) -> ClipWork:
        return self._reader.work(self._plan(index, training=training, clip=clip, num_clips=num_clips))

    def _plan(self, index: int, *, training: bool, clip: int, num_clips: int) -> ClipPlan:
        item = self.items[index]
        return self._reader.plan(
            item.path,
            item.kind,
            video_id=item.id,
            training=training,
            clip=clip,
            num_clips=num_clips,
            span=item.span,
        )

    def describe_clips(self) -> dict[str, str]:
        return self.clips.describe()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, items={len(self)}, classes={self.num_classes})"


class VideoFileDataset(ItemDataset):
    """Videos read from ``root``: one decoded video file or one folder of frames per entry.

    Args:
        entries: the listed videos (path relative to ``root``, label, group).
        root: the folder the entry paths are relative to.
        class_names: indexed by label.
        storage: ``video`` reads ``root/<path>``; ``frames`` reads the folder
            ``root/<path without extension>`` (or ``root/<path>`` if that is a folder); ``auto``
            takes the video file when there is one, else the frame folder, video by video.
        clips: how clips are cut and transformed, and whether missing videos are an error.
        name: how messages refer to this subset (``"ucf101 official split 1 train"``).

    Attributes:
        missing: listed paths that were not found and are not part of the dataset.
        items: every found video as an :class:`~vrt.datasets.items.Item` whose id is its listed path.
    """

    def __init__(
        self,
        *,
        entries: Sequence[SplitEntry],
        root: Path,
        class_names: Sequence[str],
        clips: ClipSpec,
        storage: StorageMode = "auto",
        name: str = "dataset",
    ) -> None:
        if storage not in STORAGE_MODES:
            raise VrtError(f"{name}: storage must be one of {', '.join(STORAGE_MODES)}, got {storage!r}")
        self.root = Path(root)
        self.storage = storage

        index = _FolderIndex(self.root)
        items: list[Item] = []
        self.missing: list[str] = []
        for entry in entries:
            location = self._locate(index, entry.path)
            if location is None:
                self.missing.append(entry.path)
            else:
                path, kind = location
                items.append(Item(entry.path, path, kind, entry.label, group=entry.group))
        self._report_missing(
            total=len(entries), found=len(items), strict=clips.strict, why=index.problems, name=name
        )
        super().__init__(items, clips=clips, class_names=class_names, name=name)

    def _locate(self, index: _FolderIndex, relative: str) -> tuple[Path, ItemKind] | None:
        if self.storage in ("auto", "video"):
            path = index.find(relative, directory=False)
            if path is not None:
                return path, "video"
        if self.storage in ("auto", "frames"):
            for candidate in frame_folder_candidates(relative):
                path = index.find(candidate, directory=True)
                if path is not None:
                    return path, "frames"
        return None

    def _report_missing(self, *, total: int, found: int, strict: bool, why: list[str], name: str) -> None:
        if not self.missing:
            return
        count = len(self.missing)
        shown = ", ".join(self.missing[:_SHOWN]) + (", ..." if count > _SHOWN else "")
        what = {"auto": "video file or frame folder", "video": "video file", "frames": "frame folder"}[
            self.storage
        ]
        summary = f"{name}: {count} of {total} listed videos have no {what} under {self.root} ({shown})"
        if why:  # folders that could not be listed, entries that could not be read
            summary += f" [{'; '.join(why[:3])}{'; ...' if len(why) > 3 else ''}]"
        if found == 0:
            # Every video missing is a wrong root, not bad data: a warning would hide it.
            raise VrtError(
                f"{summary}; is data.dataset.root the folder that holds the listed paths"
                f"{'' if self.storage == 'auto' else ', and data.dataset.storage right'}?"
            )
        if strict:
            raise VrtError(f"{summary}; data.strict is true (set it to false to skip them)")
        warnings.warn(f"{summary}; they are skipped (set data.strict: true to fail instead)", stacklevel=3)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, videos={len(self)}, classes={self.num_classes}, "
            f"missing={len(self.missing)}, root={str(self.root)!r}, storage={self.storage!r})"
        )


def existing_folder(value: str, *, key: str, expected: str) -> Path:
    """``value`` as a folder (relative to the current directory), or an error naming the config key."""
    path = Path(value).expanduser()
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise VrtError(f"{key}: {path.absolute()} {state} (expected {expected})")
    return path


def existing_file(path: Path, *, key: str, expected: str) -> Path:
    if not path.is_file():
        raise VrtError(f"{key}: {path.absolute()} does not exist (expected {expected})")
    return path


def check_official_split(number: int, *, dataset: str) -> int:
    """The number of one of the dataset's official train/test lists (``data.dataset.split``)."""
    if isinstance(number, bool) or number not in (1, 2, 3):
        raise VrtError(f"data.dataset.split: {dataset} has official splits 1, 2 and 3, got {number!r}")
    return number


def check_subset(subset: str) -> Subset:
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    return subset  # type: ignore[return-value]

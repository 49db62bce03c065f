"""A collection of one's own videos: folders and list files become items to encode.

    from vrt.datasets.collection import list_items
    from vrt.datasets.windows import resolve_windows

    listing = list_items(["footage/"], labels="folders")
    listing = resolve_windows(listing, decoder=PyAVDecoder(), segment=4.0)

* A **folder** is searched recursively for video files (by extension, as ``video_folder``) and
  frame folders (a folder that holds ``.jpg``/``.png`` frames and no videos or subfolders);
  hidden names are skipped. An item's id is its path relative to the folder, with ``/`` separators;
  a folder's items come in the order of their ids.
* A **list file** names one video file or frame folder per line, relative to the list's folder
  (or absolute), optionally followed by a label after whitespace or a comma, as in
  ``video_list``: a line that names an existing video as a whole has no label. Blank lines and
  lines starting with ``#`` are skipped. The id is the path as listed; the items keep the
  list's order. A path may end in a
  window, ``walk.mp4#t=4,8`` (seconds): that item is the window alone.
* A single **video file** or frame folder is an item whose id is its name; a binary file under
  another extension (``.ts``, ``.mts``) is taken as a video, a text file as a list file.

Labels (``labels=``): ``"auto"`` uses the labels a list file gives and leaves the rest
unlabelled (-1); ``"folders"`` takes the class from each item's parent folder; ``"none"``
leaves every item unlabelled. Labels are class names (sorted, as ``class_names``) or, when
every label of a list is a number, bare class indices (no class names).

Listing opens no video: :mod:`vrt.datasets.windows` cuts the items into windows of seconds.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

from vrt.codes import UNLABELLED
from vrt.datasets.items import Item
from vrt.datasets.splitfiles import VIDEO_EXTENSIONS, read_lines
from vrt.errors import VrtError
from vrt.io.fragments import TimeWindow, split_time_fragment, with_time_fragment
from vrt.io.frames import FRAME_EXTENSIONS
from vrt.runtime.limits import MAX_CLASSES

__all__ = ["LABEL_SOURCES", "ItemList", "LabelSource", "list_items"]

LabelSource = Literal["auto", "folders", "none"]
LABEL_SOURCES: tuple[str, ...] = get_args(LabelSource)
# The label is the last field: after the last comma, or else after the last run of spaces.
_LABELLED_LINE = re.compile(r"^(?P<path>.*?)\s*(?:,|\s)\s*(?P<label>[^\s,]+)$")


@dataclass
class ItemList:
    """The items in listing order, their class names, and what could not be listed.

    ``unreadable`` maps the id of each listed video that is missing or (with windows) cannot
    be probed to the reason; such videos have no item. ``settings`` are the listing options
    that shape the items (labels, segment, stride, root), recorded with their codes.
    """

    items: list[Item]
    class_names: list[str] | None = None
    unreadable: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class _Listed:
    id: str
    path: Path
    label_text: str | None = None
    window: TimeWindow | None = None


def list_items(
    sources: Sequence[str | os.PathLike[str]],
    *,
    labels: LabelSource = "auto",
    root: str | os.PathLike[str] | None = None,
) -> ItemList:
    """The items of ``sources`` (folders, list files, single videos); see the module docstring.

    ``root`` makes every id the path relative to it instead of to its source, so that videos
    added later from a subfolder get ids of the same kind as those already indexed
    (``new/clip.mp4`` rather than ``clip.mp4``), and thumbnails find them under one folder.

    Raises:
        VrtError: a source that does not exist, ids that two sources share, or mixed kinds of labels.
    """
    if labels not in LABEL_SOURCES:
        raise VrtError(f"labels must be one of {', '.join(LABEL_SOURCES)}, got {labels!r}")
    if not sources:
        raise VrtError("no videos given: name a folder, a list file or a video (--videos PATH)")
    listed: dict[str, _Listed] = {}
    origin: dict[str, Path] = {}
    unreadable: dict[str, str] = {}
    for source in map(Path, sources):
        for listed_entry in _list_source(source, unreadable):
            entry = (
                listed_entry
                if root is None
                else replace(listed_entry, id=_relative_id(listed_entry.path, root, listed_entry.window))
            )
            if entry.id in listed:
                raise VrtError(
                    f"the id {entry.id!r} is listed by both {origin[entry.id]} and {source}: ids must be "
                    "unique; give the folder that holds both, so that their ids keep their folders"
                )
            listed[entry.id], origin[entry.id] = entry, source
    if not listed and not unreadable:
        shown = ", ".join(map(str, sources))
        raise VrtError(
            f"no video files or frame folders in {shown} (video files: {', '.join(sorted(VIDEO_EXTENSIONS))})"
        )
    ordered = list(listed.values())  # the sources in the order given: a list as listed, a folder sorted
    label_of, class_names = _resolve_labels(ordered, labels)
    items = [
        Item(
            entry.id,
            entry.path,
            "frames" if entry.path.is_dir() else "video",
            label_of[entry.id],
            window=entry.window,
        )
        for entry in ordered
    ]
    settings = {
        "labels": labels,
        "segment": None,
        "stride": None,
        "root": None if root is None else str(root),
    }
    return ItemList(items=items, class_names=class_names, unreadable=unreadable, settings=settings)


def _relative_id(path: Path, root: str | os.PathLike[str], window: TimeWindow | None) -> str:
    """``path`` relative to ``root``, both made absolute without following links (and its window)."""
    absolute, base = Path(os.path.normpath(path.absolute())), Path(os.path.normpath(Path(root).absolute()))
    try:
        relative = absolute.relative_to(base).as_posix()
    except ValueError:
        raise VrtError(f"{path} is not inside --root {root}: ids are paths relative to it") from None
    return relative if window is None else with_time_fragment(relative, window)


def _list_source(source: Path, unreadable: dict[str, str]) -> list[_Listed]:
    if not source.exists():
        raise VrtError(f"--videos {source}: no such file or folder")
    if source.is_dir() and not _is_frame_folder(source):
        return sorted(_scan_folder(source), key=lambda entry: entry.id)
    if source.is_dir() or source.suffix.lower() in VIDEO_EXTENSIONS or not _is_text(source):
        return [_Listed(source.name, source)]  # binary under another extension (.ts, .mts): a video
    return _read_list_file(source, unreadable)


def _is_text(path: Path) -> bool:
    """Whether ``path`` starts like a text file (UTF-8, no NUL byte): a list file, not a video."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return True  # the list reader says why it cannot be read
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3  # only a character cut at the end of the sample
    return True


def _is_frame_folder(folder: Path) -> bool:
    """A folder of frame images only: a folder that also holds videos or subfolders (a poster, a
    thumbnail beside the clips) is a folder to search."""
    images = False
    try:
        with os.scandir(folder) as scan:
            for entry in scan:
                if entry.name[:1] == ".":
                    continue
                suffix = Path(entry.name).suffix.lower()
                if entry.is_dir() or suffix in VIDEO_EXTENSIONS:
                    return False
                images |= suffix in FRAME_EXTENSIONS and entry.is_file()
    except OSError:
        return False
    return images


def _scan_folder(root: Path) -> list[_Listed]:
    """Video files and frame folders under ``root`` (symbolic links followed, each folder once)."""
    found: list[_Listed] = []
    visited: set[tuple[int, int]] = set()
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            status = folder.stat()
            if (status.st_dev, status.st_ino) in visited:
                continue  # a link back to a folder already listed: a loop, or the same videos twice
            visited.add((status.st_dev, status.st_ino))
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            warnings.warn(f"cannot list {folder} ({error.strerror or error}); it is skipped", stacklevel=4)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            item_id = path.relative_to(root).as_posix()
            if entry.is_dir():
                if _is_frame_folder(path):
                    found.append(_Listed(item_id, path))
                else:
                    pending.append(path)
            elif entry.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
                found.append(_Listed(item_id, path))
    return found


def _read_list_file(path: Path, unreadable: dict[str, str]) -> list[_Listed]:
    """The lines of a list of videos, each ``path`` or ``path label`` (see the module docstring)."""
    found = []
    for number, text in read_lines(path, comments=True):
        label = None
        listed, window = _listed_path(path.parent, text)
        if not listed.exists():
            match = _LABELLED_LINE.match(text)
            if match is not None and _listed_path(path.parent, match["path"])[0].exists():
                text, label = match["path"], match["label"]
                listed, window = _listed_path(path.parent, text)
        item_id = PurePosixPath(text.replace("\\", "/")).as_posix()
        if not listed.exists():
            unreadable[item_id] = f"{path}:{number}: no such video file or frame folder: {listed}"
            continue
        found.append(_Listed(item_id, listed, label, window))
    return found


def _listed_path(folder: Path, text: str) -> tuple[Path, TimeWindow | None]:
    """The file or folder a list line names, and the window its ``#t=START,END`` asks for.

    A name that exists as written is taken whole, even if it ends like a window."""
    written = Path(text.replace("\\", "/")).expanduser()
    path = written if written.is_absolute() else folder / written
    base, window = split_time_fragment(text)
    if window is None or path.exists():
        return path, None
    written = Path(base.replace("\\", "/")).expanduser()
    return (written if written.is_absolute() else folder / written), window


def _resolve_labels(entries: list[_Listed], source: LabelSource) -> tuple[dict[str, int], list[str] | None]:
    """Each id's label and the class names, from list labels or parent folders (see the module docstring)."""
    texts: dict[str, str] = {}
    for entry in entries:
        if source == "folders":
            parent = PurePosixPath(entry.id).parent.name
            if parent:  # an item at the top of its folder has no class folder: unlabelled
                texts[entry.id] = parent
        elif source == "auto" and entry.label_text is not None:
            texts[entry.id] = entry.label_text
    labels = dict.fromkeys((entry.id for entry in entries), UNLABELLED)
    if not texts:
        return labels, None
    numeric = [item_id for item_id, text in texts.items() if text.isdigit()]
    if source == "auto" and numeric and len(numeric) != len(texts):
        named = next(item_id for item_id, text in texts.items() if not text.isdigit())
        raise VrtError(
            f"the list labels {numeric[0]!r} with a class number ({texts[numeric[0]]}) but {named!r} with "
            f"a class name ({texts[named]!r}); use one kind throughout"
        )
    if source == "auto" and numeric:
        huge = next((item_id for item_id in numeric if int(texts[item_id]) >= MAX_CLASSES), None)
        if huge is not None:
            raise VrtError(
                f"the list labels {huge!r} with class number {texts[huge]}: class numbers must lie in "
                f"[0, {MAX_CLASSES:,})"
            )
        labels.update({item_id: int(text) for item_id, text in texts.items()})
        return labels, None
    class_names = sorted(set(texts.values()))
    index = {name: label for label, name in enumerate(class_names)}
    labels.update({item_id: index[text] for item_id, text in texts.items()})
    return labels, class_names

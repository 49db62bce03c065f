"""Listing a dataset folder so that one bad entry costs that entry, never the folder.

A symbolic link that loops, an entry the process may not read, or a link to nothing would make
``os.scandir``'s type checks raise (or quietly say "neither file nor folder") for that entry
alone; :func:`list_folder` skips it, says why, and lists the rest.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from vrt.datasets.splitfiles import VIDEO_EXTENSIONS, SplitEntry
from vrt.errors import VrtError

__all__ = ["FolderListing", "list_folder", "scan_class_folders", "skipped_message"]

_SHOWN = 5  # skipped entries named in a message; the rest are counted


@dataclass
class FolderListing:
    """The folders and regular files of one folder (links followed), and what was skipped."""

    entries: dict[str, bool] = field(default_factory=dict)  # name -> is a folder
    skipped: list[str] = field(default_factory=list)  # "name (why)"


def list_folder(folder: Path) -> FolderListing:
    """List ``folder``; raises ``OSError`` only when the folder itself cannot be read."""
    listing = FolderListing()
    with os.scandir(folder) as scan:
        for item in scan:
            try:
                if item.is_dir():
                    listing.entries[item.name] = True
                elif item.is_file():
                    listing.entries[item.name] = False
                elif item.is_symlink():
                    listing.skipped.append(
                        f"{item.name} (a link to {os.readlink(item.path)}, which does not exist)"
                    )
            except OSError as error:  # ELOOP, EACCES, EIO: this entry only
                listing.skipped.append(f"{item.name} ({error.strerror or error})")
    return listing


def skipped_message(folder: Path, skipped: list[str]) -> str:
    """One line naming the entries skipped in ``folder``."""
    shown = ", ".join(skipped[:_SHOWN]) + (", ..." if len(skipped) > _SHOWN else "")
    return f"{folder}: skipped {len(skipped)} unreadable entr{'y' if len(skipped) == 1 else 'ies'}: {shown}"


def scan_class_folders(root: Path, *, warn: bool = True) -> tuple[list[str], list[SplitEntry]]:
    """``<root>/<class>/<video>`` -> sorted class names and entries sorted by path.

    A video is a file with a video extension or a folder (of extracted frames); hidden names
    are ignored. A class folder without videos still gets a label, so labels do not shift when
    a class is emptied, and is warned about (with ``warn``), as are entries that cannot be read
    (a looping or dangling link, no permission): each is skipped alone, never its folder.
    """
    try:
        top = list_folder(root)
    except OSError as error:
        raise VrtError(f"data.dataset.root: cannot list {root} ({error.strerror or error})") from None
    class_names = sorted(name for name, is_dir in top.entries.items() if is_dir and not name.startswith("."))
    problems = [skipped_message(root, _visible(top.skipped))] if _visible(top.skipped) else []
    entries, empty = [], []
    for label, name in enumerate(class_names):
        try:
            listed = list_folder(root / name)
        except OSError as error:
            problems.append(f"cannot list the class folder {root / name} ({error.strerror or error})")
            continue
        if _visible(listed.skipped):
            problems.append(skipped_message(root / name, _visible(listed.skipped)))
        videos = [
            item
            for item, is_dir in sorted(listed.entries.items())
            if not item.startswith(".") and (is_dir or PurePosixPath(item).suffix.lower() in VIDEO_EXTENSIONS)
        ]
        empty += [name] if not videos else []
        entries += [SplitEntry(f"{name}/{item}", label) for item in videos]
    if empty:
        problems.append(
            f"{len(empty)} class folder(s) in {root} hold no videos ({', '.join(empty[:5])}"
            f"{', ...' if len(empty) > 5 else ''}); they keep their labels, but nothing trains or tests them"
        )
    for problem in problems if warn else ():
        warnings.warn(problem, stacklevel=2)
    return class_names, entries


def _visible(skipped: list[str]) -> list[str]:
    return [entry for entry in skipped if not entry.startswith(".")]  # hidden names are ignored anyway

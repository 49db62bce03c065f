"""Parsers of the official split files and of plain video lists: text in, entries out.

Everything here is pure (no videos are opened), so each dataset's quirks are testable from its
split files alone. A malformed line raises :class:`~vrt.errors.SplitFileError` naming the file
and the 1-based line; a video listed twice keeps its first line and warns.

Quirks handled, as found in the real files: CRLF line ends (UCF101), a trailing space after
every tag (HMDB51), names holding ``@ & # ( ) ! [ ]`` (HMDB51, JHMDB; some *start* with ``#``,
so the official files have no comment syntax), and UCF101's ``HandstandPushups`` folder whose
files are spelled ``v_HandStandPushups_...``.
"""

from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from vrt.errors import SplitFileError, VrtError
from vrt.runtime.limits import MAX_CLASSES

# Extensions `video_folder` recognises as video files (frame folders are directories).
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv", ".3gp", ".ogv"}
)

_UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c(?P<clip>\d+)$")
_TAGGED_SUFFIX = "_test_split{split}.txt"
_SUBSET_TAGS = {"train": "1", "test": "2"}  # HMDB51/JHMDB; tag 0 means "not used in this split"


@dataclass(frozen=True)
class SplitEntry:
    """One listed video: its path relative to the dataset root, its label and its group.

    ``path`` is kept exactly as listed (POSIX separators), so it doubles as the video's id
    whatever the storage: ``Class/v_x.avi`` names the file or, without its extension, the
    folder of extracted frames.
    """

    path: str
    label: int
    group: str | None = None


@dataclass(frozen=True)
class ListLine:
    """A line of a video list before labels are resolved: where it came from, path, label text."""

    source: str
    line: int
    path: str
    label: str


def read_lines(path: Path, *, comments: bool = False) -> Iterator[tuple[int, str]]:
    """``(1-based line number, text)`` of every non-blank line, line ends and outer spaces removed.

    ``comments`` skips lines starting with ``#``; never for the official files, whose names may
    start with ``#`` (HMDB51's ``#2_Gum_chew_...``).
    """
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise VrtError(f"cannot read split file {path}: {error}") from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SplitFileError(f"{path}:{line}: not valid UTF-8 text ({error.reason})") from None
    # splitlines() also splits on \r, \x0b, \x1c...; split on \n only and strip \r explicitly.
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped or (comments and stripped.startswith("#")):
            continue
        yield number, stripped


def check_relative_path(text: str, *, source: Path | str, line: int) -> str:
    """A listed path as a clean POSIX path inside the dataset root; escaping paths are rejected.

    A split file is data, so it must not be able to point outside the dataset: absolute paths
    and ``..`` are refused rather than silently resolved.
    """
    candidate = text.replace("\\", "/")
    if candidate.startswith("/") or re.match(r"^[A-Za-z]:", candidate):
        raise SplitFileError(f"{source}:{line}: absolute path {text!r}; paths must be relative to the root")
    parts = [part for part in PurePosixPath(candidate).parts if part != "."]
    if ".." in parts:
        raise SplitFileError(f"{source}:{line}: path {text!r} leaves the dataset root ('..')")
    if not parts:
        raise SplitFileError(f"{source}:{line}: empty path {text!r}")
    return "/".join(parts)


def drop_duplicates(
    entries: Iterable[tuple[SplitEntry, str]], *, what: str, warn: bool = True
) -> list[SplitEntry]:
    """Entries in order with repeated paths removed (the first is kept), warning once with a count.

    ``entries`` pairs each entry with its ``file:line`` so the warning can say where; ``warn``
    False drops them silently (a list read only for its labels, reported when it is built).
    """
    kept: dict[str, SplitEntry] = {}
    repeats: list[str] = []
    for entry, where in entries:
        if entry.path in kept:
            repeats.append(f"{entry.path} ({where})")
        else:
            kept[entry.path] = entry
    if repeats and warn:
        shown = "; ".join(repeats[:3]) + ("; ..." if len(repeats) > 3 else "")
        warnings.warn(
            f"{what}: {len(repeats)} video(s) listed more than once; the first listing is kept: {shown}",
            stacklevel=3,
        )
    return list(kept.values())


# -- UCF101 -----------------------------------------------------------------------------------


def parse_ucf101_classes(path: Path) -> list[str]:
    """Class names from ``classInd.txt`` (``<1-based id> <name>``), indexed by 0-based label."""
    by_id: dict[int, str] = {}
    for number, text in read_lines(path):
        fields = text.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise SplitFileError(f"{path}:{number}: expected '<id> <ClassName>', got {text!r}")
        class_id, name = int(fields[0]), fields[1]
        if class_id in by_id:
            raise SplitFileError(f"{path}:{number}: class id {class_id} is listed twice")
        if name in by_id.values():
            raise SplitFileError(f"{path}:{number}: class name {name!r} is listed twice")
        by_id[class_id] = name
    if not by_id:
        raise SplitFileError(f"{path}: no classes listed")
    if sorted(by_id) != list(range(1, len(by_id) + 1)):
        raise SplitFileError(f"{path}: class ids must be 1..{len(by_id)} without gaps, got {sorted(by_id)}")
    return [by_id[i] for i in range(1, len(by_id) + 1)]


def parse_ucf101_list(path: Path, class_names: Sequence[str]) -> list[SplitEntry]:
    """Entries of a ``trainlist0K.txt`` (``<Class>/<video>.avi <id>``) or ``testlist0K.txt`` (no id).

    The label comes from the folder, matched against ``classInd.txt`` exactly or, failing that,
    case-insensitively; a listed id must agree with it. The group is ``<Class>_gGG``, the
    source recording (taken from ``v_<Class>_gGG_cCC``, whose class part may differ from the
    folder in case: ``HandstandPushups/v_HandStandPushups_g01_c01.avi``); a name without that
    pattern is its own group.
    """
    exact = {name: label for label, name in enumerate(class_names)}
    folded: dict[str, int | None] = {}
    for label, name in enumerate(class_names):
        folded[name.lower()] = None if name.lower() in folded else label  # None: ambiguous
    lines = []
    for number, text in read_lines(path):
        fields = text.split()
        if len(fields) not in (1, 2):
            raise SplitFileError(f"{path}:{number}: expected '<Class>/<video> [<id>]', got {text!r}")
        relative = check_relative_path(fields[0], source=path, line=number)
        folder, _, filename = relative.rpartition("/")
        if not folder or "/" in folder:
            raise SplitFileError(f"{path}:{number}: expected '<Class>/<video>', got {fields[0]!r}")
        label = exact.get(folder, folded.get(folder.lower()))
        if label is None:
            raise SplitFileError(f"{path}:{number}: class folder {folder!r} is not in classInd.txt")
        if len(fields) == 2:
            if not fields[1].isdigit():
                raise SplitFileError(f"{path}:{number}: class id must be an integer, got {fields[1]!r}")
            if int(fields[1]) != label + 1:
                raise SplitFileError(
                    f"{path}:{number}: class id {fields[1]} disagrees with folder {folder!r} "
                    f"(id {label + 1} in classInd.txt)"
                )
        match = _UCF_NAME.match(PurePosixPath(filename).stem)
        if match and match["cls"].lower() == class_names[label].lower():
            group = f"{class_names[label]}_g{int(match['group']):02d}"
        else:
            group = relative
        lines.append((SplitEntry(relative, label, group), f"{path}:{number}"))
    return drop_duplicates(lines, what=str(path))


def ucf101_split_files(annotations: Path, split: int) -> dict[str, Path]:
    """``classInd.txt`` and the train/test lists of ``split`` in an ``ucfTrainTestlist`` folder."""
    return {
        "classes": annotations / "classInd.txt",
        "train": annotations / f"trainlist{split:02d}.txt",
        "test": annotations / f"testlist{split:02d}.txt",
    }


# -- HMDB51 and JHMDB --------------------------------------------------------------------------


def tagged_split_files(annotations: Path, split: int) -> dict[str, Path]:
    """``{class name: <class>_test_split<k>.txt}`` in sorted class order (which gives the labels)."""
    suffix = _TAGGED_SUFFIX.format(split=split)
    files = {
        p.name[: -len(suffix)]: p
        for p in annotations.iterdir()
        if p.name.endswith(suffix) and len(p.name) > len(suffix) and p.is_file()
    }
    return dict(sorted(files.items()))


def parse_tagged_split(path: Path, class_name: str, label: int, subset: str) -> list[tuple[SplitEntry, str]]:
    """The ``subset`` videos of one ``<video>.avi <tag>`` file (1 train, 2 test, 0 unused).

    Returns entries with their ``file:line`` (for duplicate warnings across a class's lines).
    """
    wanted = _SUBSET_TAGS[subset]
    found = []
    for number, text in read_lines(path):
        fields = text.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise SplitFileError(
                f"{path}:{number}: expected '<video> <tag>' with tag 0, 1 or 2, got {text!r}"
            )
        name = check_relative_path(fields[0], source=path, line=number)
        if "/" in name:
            raise SplitFileError(f"{path}:{number}: expected a file name, got a path {fields[0]!r}")
        if fields[1] == wanted:
            found.append((SplitEntry(f"{class_name}/{name}", label), f"{path}:{number}"))
    return found


def parse_tagged_splits(annotations: Path, split: int, subset: str) -> tuple[list[str], list[SplitEntry]]:
    """Class names (sorted) and the ``subset`` entries of HMDB51/JHMDB split ``split``."""
    files = tagged_split_files(annotations, split)
    if not files:
        raise VrtError(
            f"{annotations} holds no '<class>{_TAGGED_SUFFIX.format(split=split)}' files "
            "(expected the folder of official split files)"
        )
    lines = []
    for label, (class_name, path) in enumerate(files.items()):
        lines.extend(parse_tagged_split(path, class_name, label, subset))
    return list(files), drop_duplicates(lines, what=f"{annotations} split {split} ({subset})")


# -- video lists (the reference's train.txt / test.txt) ---------------------------------------

# The label is the last field: after the last comma, or else after the last run of spaces, so
# that paths may themselves contain spaces.
_LIST_LINE = re.compile(r"^(?P<path>.*?)\s*(?:,|\s)\s*(?P<label>[^\s,]+)$")


def read_video_list(path: Path) -> list[ListLine]:
    """The lines of a ``<relative path> <label>`` list (whitespace or comma between the two).

    Blank lines and lines starting with ``#`` are skipped (write ``./#name.avi`` for a path that
    starts with ``#``).
    """
    lines = []
    for number, text in read_lines(path, comments=True):
        match = _LIST_LINE.match(text)
        if match is None or not match["path"].strip():
            raise SplitFileError(f"{path}:{number}: expected '<relative path> <label>', got {text!r}")
        relative = check_relative_path(match["path"].strip(), source=path, line=number)
        lines.append(ListLine(str(path), number, relative, match["label"]))
    return lines


def label_video_lists(
    lists: dict[str, list[ListLine]],
    class_names: Sequence[str] | None = None,
    *,
    report: Iterable[str] | None = None,
) -> tuple[list[str], dict[str, list[SplitEntry]]]:
    """Resolve the labels of several lists (train and test) together, so they share one label space.

    A label is either a 0-based class index (all digits) or a class name; one collection must
    use one kind. Class names, when not given, are ``"0" .. str(max label)`` for indices, or
    the sorted distinct names. Duplicates are warned about for the lists in ``report`` (all by
    default): each subset's dataset reads both lists, and should report only its own.
    """
    reported = set(lists if report is None else report)
    every = [line for lines in lists.values() for line in lines]
    negative = next((line for line in every if re.fullmatch(r"-\d+", line.label)), None)
    if negative is not None:
        raise SplitFileError(
            f"{negative.source}:{negative.line}: negative label {negative.label} (labels are 0-based)"
        )
    numeric = [line for line in every if line.label.isdigit()]
    if numeric and len(numeric) != len(every):
        named = next(line for line in every if not line.label.isdigit())
        raise SplitFileError(
            f"{named.source}:{named.line}: label {named.label!r} is a class name but "
            f"{numeric[0].source}:{numeric[0].line} uses a class index; use one kind throughout"
        )
    huge = next((line for line in numeric if int(line.label) >= MAX_CLASSES), None)
    if huge is not None:  # "0" .. label would be built: 10**9 names from one line
        raise SplitFileError(
            f"{huge.source}:{huge.line}: label {huge.label} is beyond vrt's limit of {MAX_CLASSES:,} "
            "classes (labels are 0-based class indices); renumber the labels, or use class names"
        )
    if class_names is None:
        if numeric:
            class_names = [str(i) for i in range(max(int(line.label) for line in every) + 1)]
        else:
            class_names = sorted({line.label for line in every})
    class_names = list(class_names)
    index = {name: label for label, name in enumerate(class_names)}
    resolved: dict[str, list[SplitEntry]] = {}
    for subset, lines in lists.items():
        entries = []
        for line in lines:
            if numeric:
                label = int(line.label)
                if label >= len(class_names):
                    raise SplitFileError(
                        f"{line.source}:{line.line}: label {label} is out of range for "
                        f"{len(class_names)} class names (labels are 0-based)"
                    )
            elif line.label in index:
                label = index[line.label]
            else:
                raise SplitFileError(f"{line.source}:{line.line}: unknown class name {line.label!r}")
            entries.append((SplitEntry(line.path, label), f"{line.source}:{line.line}"))
        resolved[subset] = drop_duplicates(entries, what=f"{subset} list", warn=subset in reported)
    return class_names, resolved


# -- a seeded split of class folders -----------------------------------------------------------------------------


def stratified_split(
    entries: Sequence[SplitEntry], *, test_fraction: float, seed: int
) -> tuple[list[SplitEntry], list[SplitEntry]]:
    """A seeded per-class (train, test) split, each in the input order.

    Every class puts ``round(test_fraction * n)`` videos in test, but keeps one on each side
    when it has two or more videos and the fraction is not 0. Each class shuffles with its own
    stream keyed by its label, so adding videos to one class leaves the others' split alone.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    by_label: dict[int, list[int]] = {}
    for position, entry in enumerate(entries):
        by_label.setdefault(entry.label, []).append(position)
    test: set[int] = set()
    for label, positions in by_label.items():
        n = len(positions)
        count = round(test_fraction * n)
        if test_fraction > 0 and n >= 2:
            count = min(max(count, 1), n - 1)
        # Sorting by path makes the draw independent of directory listing order.
        ordered = sorted(positions, key=lambda p: entries[p].path)
        rng = np.random.default_rng([seed, label, zlib.crc32(b"video_folder")])
        test.update(ordered[i] for i in rng.permutation(n)[:count])
    train_entries = [e for p, e in enumerate(entries) if p not in test]
    test_entries = [e for p, e in enumerate(entries) if p in test]
    return train_entries, test_entries

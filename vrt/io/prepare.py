"""Turning a tree of videos into a tree of frame folders (``vrt prepare frames``).

``SRC/<class>/<video>.avi`` becomes ``DST/<class>/<video>/00001.jpg ...``, the layout the
dataset adapters read in frame-folder mode. The conversion of a collection takes hours, so it
is built to be interrupted and run again: each video is extracted all-or-nothing (see
``vrt.io.extract``), finished videos are skipped, and a video that fails is listed, with the
reason, instead of stopping the others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vrt.errors import DataError
from vrt.io.extract import (
    DONE_MARKER,
    ExtractResult,
    extraction_options,
    is_extracted,
    recorded_options,
    remove_partial_folders,
    try_extract_frames,
)
from vrt.runtime.cpus import usable_cores
from vrt.runtime.fileio import atomic_write_text
from vrt.runtime.writeguard import check_output_folder

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".avi", ".mp4", ".mkv", ".webm", ".mov"})
FAILURES_FILE = "failed_videos.txt"
DESTINATION_MARKER = ".vrt-frames"  # a --dst that vrt prepare frames writes into

Status = Literal["converted", "skipped", "failed"]


@dataclass(frozen=True)
class VideoOutcome:
    """What happened to one video; ``video`` is relative to the source folder."""

    video: Path
    status: Status
    frames: int = 0
    reason: str = ""


@dataclass
class PrepareSummary:
    """Every video's outcome, in source order, and where the failures were written."""

    outcomes: list[VideoOutcome] = field(default_factory=list)
    failures_file: Path | None = None

    def _with(self, status: Status) -> list[VideoOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def converted(self) -> list[VideoOutcome]:
        return self._with("converted")

    @property
    def skipped(self) -> list[VideoOutcome]:
        return self._with("skipped")

    @property
    def failed(self) -> list[VideoOutcome]:
        return self._with("failed")

    @property
    def kept_with_other_options(self) -> list[VideoOutcome]:
        """Finished folders that were left as they are although extracted with other options."""
        return [outcome for outcome in self.skipped if outcome.reason]

    @property
    def all_failed(self) -> bool:
        """Nothing usable came out: the case worth a failing exit status."""
        return bool(self.outcomes) and len(self.failed) == len(self.outcomes)


ProgressCallback = Callable[[VideoOutcome, int, int], None]
"""Called after every video as ``progress(outcome, videos done, videos in total)``."""


def find_videos(src: str | Path) -> list[Path]:
    """The video files under ``src`` (any depth; avi, mp4, mkv, webm, mov), relative and sorted.

    Hidden files and folders are left out (``._x.avi`` resource forks, our own partial
    folders); symbolic links to folders are followed, as dataset trees are often assembled
    from links.
    """
    src = Path(src)
    if not src.is_dir():
        raise DataError(f"--src {src}: no such folder of videos")
    videos = []
    for folder, subfolders, files in os.walk(src, followlinks=True):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                videos.append(Path(folder, name).relative_to(src))
    return sorted(videos)


FOREIGN_HINT = "prepare (no .done marker); move it away, or pass --force to replace it"


_FRAME_NAME = re.compile(r"^\d+\.(jpg|png)$")


def holds_prepared_frames(folder: Path) -> bool:
    """Whether ``folder`` is a ``--dst`` that ``vrt prepare frames`` wrote into before: it has the
    marker written at the start of every run, or (a destination older than the marker) a
    finished frame folder one to three levels down (``Class/video/`` in UCF101's layout)."""
    if (folder / DESTINATION_MARKER).is_file():
        return True
    return any(next(folder.glob("*/" * depth + DONE_MARKER), None) is not None for depth in (1, 2, 3))


def _foreign(folder: Path) -> bool:
    """Whether a frame folder's place holds what vrt did not write: a file, or a folder with more
    than numbered frames (an unfinished extraction of frames only is redone)."""
    if folder.is_dir():
        return any(not _FRAME_NAME.match(entry.name) for entry in folder.iterdir())
    return folder.exists() or folder.is_symlink()


def frame_folder(dst: str | Path, video: Path) -> Path:
    """Where the frames of ``video`` (relative to the source folder) go: its path without extension."""
    return Path(dst) / video.with_suffix("")


def prepare_frames(
    src: str | Path,
    dst: str | Path,
    *,
    short_side: int | None = 128,
    fps: float | None = None,
    workers: int | None = None,
    ext: Literal["jpg", "png"] = "jpg",
    quality: int = 90,
    progress: ProgressCallback | None = None,
    force: bool = False,
) -> PrepareSummary:
    """Extract the frames of every video under ``src`` into ``dst``, skipping finished ones.

    Args:
        short_side: shorter side of the written frames in pixels (``None`` or 0: original size).
        fps: resample every video to this frame rate (``None``: keep every frame).
        workers: videos converted in parallel, one process each (default ``min(4, CPUs)``).
        ext: ``jpg`` or ``png``.
        quality: JPEG quality (1-100).
        progress: called after each video, skipped ones included.
        force: write into a ``dst`` that holds files vrt did not write, and replace a non-empty
            folder (or a file) where a frame folder goes even though vrt did not write it (it
            has no ``.done`` marker); without it that video fails.

    A finished folder is kept even when it was extracted with other options; its outcome
    (``skipped``) then says which, so that a changed ``short_side`` does not go unnoticed
    (delete such folders to extract them again).

    Failures are listed in ``dst/failed_videos.txt`` (``<video>\\t<reason>`` lines); a run
    without failures removes that file, so it never describes an older run.

    Raises:
        DataError: ``src`` is not a folder or holds no videos.
        OutputError: ``dst`` is a file, or a folder of other files (not an earlier ``dst``).
    """
    src, dst = Path(src), Path(dst)
    videos = find_videos(src)
    if not videos:
        extensions = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise DataError(f"--src {src}: no videos ({extensions}) found under it")
    workers = workers or min(4, usable_cores())
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    options = extraction_options(short_side=short_side, fps=fps, ext=ext, quality=quality)
    check_output_folder(dst, what="frames", is_own=holds_prepared_frames, force=force, option="--dst")
    dst.mkdir(parents=True, exist_ok=True)
    (dst / DESTINATION_MARKER).touch()  # before any frame: a killed first run is still vrt's own

    outcomes: dict[Path, VideoOutcome] = {}
    done = 0

    def record(outcome: VideoOutcome) -> None:
        nonlocal done
        outcomes[outcome.video] = outcome
        done += 1
        if progress is not None:
            progress(outcome, done, len(videos))

    todo: list[Path] = []
    owners: dict[Path, Path] = {}  # output folder -> the video that claimed it first
    for video in videos:
        folder = frame_folder(dst, video)
        if folder in owners:  # clip.avi and clip.mp4 side by side would share clip/
            record(VideoOutcome(video, "failed", reason=f"same output folder as {owners[folder]}"))
        elif is_extracted(folder):
            owners[folder] = video
            record(VideoOutcome(video, "skipped", reason=_other_options(recorded_options(folder), options)))
        elif not force and _foreign(folder):
            owners[folder] = video
            record(
                VideoOutcome(
                    video, "failed", reason=f"{folder} exists and was not written by vrt {FOREIGN_HINT}"
                )
            )
        else:
            owners[folder] = video
            todo.append(video)

    # Temporary folders of an earlier run that was killed (an interrupt cleans up after itself).
    for parent in sorted({frame_folder(dst, video).parent for video in todo}):
        remove_partial_folders(parent)

    for result in _run(todo, src, dst, options, workers):
        video = result.video.relative_to(src)
        if result.error is None:
            record(VideoOutcome(video, "converted", frames=result.frames))
        else:
            record(VideoOutcome(video, "failed", reason=result.error))

    summary = PrepareSummary(outcomes=[outcomes[video] for video in videos])
    failures_file = dst / FAILURES_FILE
    if summary.failed:
        lines = [f"{outcome.video.as_posix()}\t{outcome.reason}\n" for outcome in summary.failed]
        atomic_write_text(failures_file, "".join(lines))
        summary.failures_file = failures_file
    else:
        failures_file.unlink(missing_ok=True)
    return summary


def _other_options(recorded: dict | None, wanted: dict) -> str:
    """How a finished folder's options differ from the wanted ones (``""`` when they do not, or
    when its marker predates the record)."""
    if recorded is None:
        return ""
    differences = [
        f"{key} {recorded.get(key)} (asked {value})"
        for key, value in wanted.items()
        if recorded.get(key, value) != value
    ]
    return f"extracted with other options: {', '.join(differences)}" if differences else ""


def _run(videos: list[Path], src: Path, dst: Path, options: dict, workers: int) -> Iterable[ExtractResult]:
    """Extract ``videos`` in this process (one worker) or in a process pool, yielding as they finish."""
    jobs = [(src / video, frame_folder(dst, video)) for video in videos]
    if workers == 1 or len(jobs) <= 1:
        for video, folder in jobs:
            yield try_extract_frames(video, folder, **options)
        return
    # Processes rather than threads, so the Python side of each frame (conversion calls, file
    # writes) runs in parallel too. The job function lives in vrt.io.extract, which imports no
    # torch, so workers start fast whatever the start method.
    executor = ProcessPoolExecutor(max_workers=min(workers, len(jobs)))
    try:
        futures = [executor.submit(try_extract_frames, video, folder, **options) for video, folder in jobs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        # On an interrupt, drop the videos not yet started; the running ones clean up after themselves.
        executor.shutdown(wait=True, cancel_futures=True)

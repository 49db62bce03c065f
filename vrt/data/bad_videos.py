"""A run's record of videos that could not be read: warned once each, listed in a file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from vrt.datasets.items import SkippedClip


class BadVideoLog:
    """Collects skipped videos; each is announced once and appended to ``path`` immediately.

    Appending as they come (rather than at the end) keeps the list even when the run crashes.
    Lines are ``<video id>\\t<reason>``; an existing file (a resumed run) is read back first so
    that no video is listed twice.
    """

    def __init__(self, path: Path | None, *, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._warn = warn
        self.reasons: dict[str, str] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                video_id, _, reason = line.partition("\t")
                if video_id:
                    self.reasons[video_id] = reason

    def __len__(self) -> int:
        return len(self.reasons)

    def record(self, skipped: Iterable[SkippedClip], *, announce: bool = True) -> None:
        """Log new entries; ``announce=False`` when the caller has already reported them in bulk."""
        lines = []
        for item in skipped:
            if item.video_id in self.reasons:
                continue
            self.reasons[item.video_id] = item.reason.replace("\n", " ")
            lines.append(f"{item.video_id}\t{self.reasons[item.video_id]}\n")
            if announce and self._warn is not None:
                self._warn(f"skipping unreadable video {item.video_id}: {item.reason}")
        if lines and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.writelines(lines)

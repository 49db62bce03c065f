"""Ids of video segments in the W3C media-fragment convention: ``path#t=START,END`` (seconds).

``vrt encode --segment`` gives every window of a long video its own code under such an id, so a
search can land inside the video; pages and the search app read the window back to show the
segment's own frames. Times are plain seconds (the fragment's default ``npt`` form), written
with at most three decimals and no trailing zeros: ``walk.mp4#t=0,4``, ``walk.mp4#t=4,7.52``.
"""

from __future__ import annotations

import re

__all__ = ["TimeWindow", "format_seconds", "split_time_fragment", "with_time_fragment"]

TimeWindow = tuple[float, float]

_FRAGMENT = re.compile(r"^(?P<base>.+)#t=(?P<start>\d+(?:\.\d+)?),(?P<end>\d+(?:\.\d+)?)$")


def format_seconds(seconds: float) -> str:
    """``4.0`` -> ``"4"``, ``7.5199`` -> ``"7.52"``: three decimals at most, no trailing zeros."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def with_time_fragment(item_id: str, window: TimeWindow) -> str:
    """The id of the segment ``window`` (start, end seconds) of the video ``item_id``."""
    start, end = window
    return f"{item_id}#t={format_seconds(start)},{format_seconds(end)}"


def split_time_fragment(item_id: str) -> tuple[str, TimeWindow | None]:
    """``("walk.mp4", (4.0, 8.0))`` for ``walk.mp4#t=4,8``; ``(item_id, None)`` without a fragment."""
    match = _FRAGMENT.match(item_id)
    if match is None:
        return item_id, None
    start, end = float(match["start"]), float(match["end"])
    if end < start:
        return item_id, None
    return match["base"], (start, end)

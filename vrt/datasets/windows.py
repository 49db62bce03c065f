"""Windows of seconds: the windows a list names, and every video cut into windows of ``segment``.

:func:`resolve_windows` probes the items that need their length, through the decoder that will
read them (``data.decoder``): the windows a list names, and, with ``segment`` seconds (and
``stride``, by default the segment), every video cut into windows ``[0, s), [stride, stride +
s), ...``, the last one ending with the video; each window is an item with the media-fragment id
``path#t=START,END``. A frame folder is cut when ``vrt prepare frames`` recorded its frame rate;
one without a rate stays whole, with a warning. A video cut short after a header that states its
whole length is cut only as far as its frames decode, with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

from vrt.datasets.collection import ItemList
from vrt.datasets.decoders import ClipDecoder, probe_item
from vrt.datasets.items import Item
from vrt.errors import VideoDecodeError, VrtError
from vrt.io.fragments import TimeWindow, split_time_fragment, with_time_fragment
from vrt.io.video import VideoInfo

__all__ = ["check_segment", "resolve_windows", "time_windows"]


def check_segment(segment: float | None, stride: float | None) -> None:
    """Refuse a stride without a segment, or times that are not positive (before any work)."""
    if stride is not None and segment is None:
        raise VrtError("--stride needs --segment (the window length in seconds)")
    if segment is not None and (segment <= 0 or (stride is not None and stride <= 0)):
        raise VrtError(f"--segment and --stride must be positive seconds, got {segment} and {stride}")


def resolve_windows(
    listing: ItemList,
    *,
    decoder: ClipDecoder,
    segment: float | None = None,
    stride: float | None = None,
) -> ItemList:
    """``listing`` with every window in frames: the windows it names, and with ``segment`` each
    video (and frame folder with a known rate) cut into windows of ``segment`` seconds every
    ``stride`` (default: ``segment``). Lengths are probed with ``decoder``, the one that will
    read the clips; an item that cannot be probed moves to ``unreadable``.
    """
    check_segment(segment, stride)
    unreadable = dict(listing.unreadable)
    lengths: dict[Path, int] = {}  # decodable frames per video: a list may name many windows of one
    items: list[Item] = []
    for item in listing.items:
        if item.window is None and segment is None:
            items.append(item)
        else:
            items.extend(
                _windows(
                    item,
                    decoder=decoder,
                    segment=segment,
                    stride=stride or segment,
                    unreadable=unreadable,
                    lengths=lengths,
                )
            )
    settings = {**listing.settings}
    if segment is not None:
        settings |= {"segment": segment, "stride": stride or segment}
    return ItemList(items=items, class_names=listing.class_names, unreadable=unreadable, settings=settings)


def time_windows(duration: float, *, segment: float, stride: float) -> list[TimeWindow]:
    """Windows of ``segment`` seconds every ``stride`` seconds; the last one ends with the video.

    A video shorter than a segment is one window; no window only repeats the end of the one
    before it (a tail already covered when ``stride < segment``).
    """
    windows: list[TimeWindow] = []
    step = 0
    while True:
        start = round(step * stride, 6)  # multiples, not sums, so the times do not drift
        if windows and start >= duration:  # a stride longer than the segment steps past the end
            return windows
        end = round(min(start + segment, duration), 6)
        windows.append((start, end))
        if end >= duration:
            return windows
        step += 1


def _windows(
    item: Item,
    *,
    decoder: ClipDecoder,
    segment: float | None,
    stride: float | None,
    unreadable: dict[str, str],
    lengths: dict[Path, int],
) -> list[Item]:
    """The item's own window in frames, or its windows of ``segment`` seconds."""
    try:
        info = probe_item(item.path, item.kind, decoder)
    except VideoDecodeError as error:
        unreadable[item.id] = str(error)
        return []
    if info.fps <= 0:
        if item.window is not None:
            unreadable[item.id] = f"{item.path} states no frame rate, so it has no window in seconds"
            return []
        warnings.warn(f"{item.path} states no frame rate: it is encoded whole, not in segments", stacklevel=4)
        return [item]
    try:
        num_frames = _decodable_length(item, info, decoder, lengths)
    except VideoDecodeError as error:
        unreadable[item.id] = str(error)
        return []
    if num_frames == 0:
        unreadable[item.id] = f"{item.path}: no frame decodes"
        return []
    duration = num_frames / info.fps
    if item.window is not None:
        windows = [item.window]
        base_id = split_time_fragment(item.id)[0]
        if windows[0][0] >= duration:
            unreadable[item.id] = (
                f"{item.path} decodes for {duration:g} s only: the window from {windows[0][0]:g} s "
                "is past its end"
            )
            return []
    else:
        assert segment is not None and stride is not None
        windows = time_windows(duration, segment=segment, stride=stride)
        base_id = item.id
    return [
        replace(
            item,
            id=with_time_fragment(base_id, window),
            window=window,
            group=item.group or base_id,  # the windows of a video show the same video
            span=(  # a listed window that runs past the last decodable frame stops there
                round(window[0] * info.fps),
                max(min(round(window[1] * info.fps), num_frames), round(window[0] * info.fps) + 1),
            ),
        )
        for window in windows
    ]


def _decodable_length(item: Item, info: VideoInfo, decoder: ClipDecoder, lengths: dict[Path, int]) -> int:
    """The frames of a video that decode: fewer than its header states when the file was cut
    short, and then windows must stop where the frames do (said once per video, as a warning).
    A header's count estimated from a duration (Matroska) may be a frame or 1% off: not a cut.

    Raises:
        VideoDecodeError: the video cannot be opened to count them.
    """
    if item.kind != "video":
        return info.num_frames
    if item.path not in lengths:
        lengths[item.path] = decodable = decoder.decodable_frames(item.path)
        if decodable < info.num_frames - max(1, info.num_frames // 100):
            warnings.warn(
                f"{item.path}: its header states {info.num_frames} frames ({info.num_frames / info.fps:g} s) "
                f"but only {decodable} decode ({decodable / info.fps:g} s); its windows stop there",
                stacklevel=5,
            )
    return min(lengths[item.path], info.num_frames)

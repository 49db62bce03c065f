"""Reading frames out of video files with PyAV, seeking to what a clip needs.

A clip is a handful of frames; a video can hold thousands. ``read_video_frames`` seeks to the
keyframe before the first frame it needs and decodes forward only up to the last one, so the
cost of a clip depends on its span, not on the length of the video.

Frames are identified by timestamp (``pts * time_base * fps``, counted from the stream's start)
rather than by counting decoded frames, because counting is only right when decoding starts at
frame 0; streams without timestamps are decoded from the start and counted instead. Metadata
is trusted only as far as it goes: a video that stops before the frame count it announces
(truncated download, lying header) gives its last decodable frame for the missing ones, and
only a video from which nothing decodes is an error.

Every failure surfaces as ``VideoDecodeError`` naming the file, which the data pipeline turns
into a skipped, reported video instead of a crashed run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vrt.errors import VideoDecodeError
from vrt.io.rgb import PendingRgb, RgbConverter

if TYPE_CHECKING:
    import av
    import av.container
    import av.video.stream

# PyAV raises its own FFmpegError family, plus OSError subclasses and ValueError/EOFError
# from the Python side; all of them mean "this file cannot be read", nothing the caller can fix.
_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, RuntimeError)


@dataclass(frozen=True)
class VideoInfo:
    """What a clip sampler needs to know about a video, read without decoding it.

    ``num_frames`` comes from the container's metadata when it has a frame count, else from its
    duration, else from counting packets; it may overstate the decodable frames of a damaged
    file, which ``read_video_frames`` tolerates.
    """

    num_frames: int
    fps: float
    width: int
    height: int


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, frame rate and size of the first video stream of ``path``.

    Cheap: nothing is decoded, and packets are demuxed only when the container states neither
    a frame count nor a duration (Matroska and WebM usually state only the duration). A file
    whose header is intact but whose frames are corrupt passes here and fails in
    ``read_video_frames``.

    Raises:
        VideoDecodeError: the file is missing, empty, not a video, or has no frames.
    """
    path = Path(path)
    with _open_video(path) as (container, stream):
        fps = _frame_rate(stream)
        num_frames = _frames_from_metadata(container, stream, fps)
        if num_frames <= 0:
            num_frames = _count_packets(container, stream, path)
        width, height = stream.codec_context.width, stream.codec_context.height
    if num_frames <= 0:
        raise VideoDecodeError(f"{path}: the video stream has no frames")
    if width <= 0 or height <= 0:
        raise VideoDecodeError(f"{path}: the video stream has no frame size ({width}x{height})")
    return VideoInfo(num_frames=num_frames, fps=fps, width=width, height=height)


def decodable_frames(path: str | Path) -> int:
    """How many frames of ``path`` decode: fewer than its header states when the file was cut short
    after a header written before the frames (MP4 with faststart). Every packet is demuxed and only
    those from the last keyframe on are decoded (the cut leaves a partial packet that demuxes).

    Raises:
        VideoDecodeError: the file is missing, empty or not a video.
    """
    import av

    path = Path(path)
    before_last_keyframe, tail = 0, []
    with _open_video(path) as (container, stream):
        try:
            for packet in container.demux(stream):
                if packet.size > 0 and packet.is_keyframe:
                    before_last_keyframe, tail = before_last_keyframe + len(tail), []
                if packet.size > 0:  # not the demuxer's empty end packet: the flush below ends it
                    tail.append(packet)
        except (av.FFmpegError, *_READ_ERRORS):
            pass  # a damaged tail: the packets before it are still there
        decoded = 0
        for packet in [*tail, None]:  # None flushes the frames held back for B-frame order
            try:
                decoded += len(packet.decode() if packet is not None else stream.codec_context.decode(None))
            except (av.FFmpegError, *_READ_ERRORS):
                pass  # a partial packet at the cut
    return before_last_keyframe + decoded


def read_video_frames(
    path: str | Path, indices: Sequence[int], *, short_side: int | None = None, threads: int = 1
) -> np.ndarray:
    """The frames at ``indices`` of ``path`` as uint8 RGB ``(len(indices), H, W, 3)``, in that order.

    ``indices`` must be non-decreasing (repeats allowed), which is what every clip sampler
    returns. Any pixel format (grey, 10-bit, odd sizes) comes out as 8-bit RGB. An index past
    the last decodable frame gets that last frame.

    ``short_side`` scales the frames (shorter side to that many pixels, the size
    :func:`~vrt.io.rgb.scaled_size` gives) in the same swscale pass that converts them to RGB, which costs
    less than converting at full size and resizing afterwards; ``None`` keeps the stored size.
    ``threads`` is FFmpeg's decoding threads (1: none, 0: FFmpeg's choice); worth more than one
    only when fewer decoders run than there are cores (DataLoader workers decode in parallel).

    Raises:
        ValueError: ``indices`` is empty, negative or not sorted.
        VideoDecodeError: the file is missing, empty, not a video, or no frame decodes.
    """
    path = Path(path)
    wanted = [int(i) for i in indices]
    if not wanted:
        raise ValueError("read_video_frames needs at least one frame index")
    if wanted[0] < 0 or any(b < a for a, b in itertools.pairwise(wanted)):
        raise ValueError(f"frame indices must be non-negative and non-decreasing, got {wanted}")
    targets = sorted(set(wanted))
    converter = RgbConverter(short_side)

    with _open_video(path, threads=threads) as (container, stream):
        frames: dict[int, np.ndarray] | None = {}
        for run in _seek_runs(targets, seekable=_is_seekable(stream)):
            decoded = _decode_targets(container, stream, run, path, seek=True, converter=converter)
            if decoded is None:
                frames = None
                break
            frames.update(decoded)
    if frames is None:
        # The seek overshot (imprecise index), landed past the end of a truncated file, or the
        # stream has no timestamps: decode from the start instead, counting frames if needed.
        with _open_video(path, threads=threads) as (container, stream):
            frames = _decode_targets(container, stream, targets, path, seek=False, converter=converter)
    assert frames is not None  # without seeking, every outcome is frames or an exception
    return np.stack([frames[i] for i in wanted])


def iter_video_frames(path: str | Path) -> Iterator[tuple[int, av.VideoFrame]]:
    """Every decodable frame of ``path`` from the start, with its index (for frame extraction).

    Indices follow the timestamps as in ``read_video_frames``, so a variable-frame-rate video
    may skip or repeat an index; a damaged packet ends the video. Yields PyAV frames, so the
    caller can scale and convert them in one swscale pass (``frame.reformat``).

    Raises:
        VideoDecodeError: the file is missing, empty, not a video, or no frame decodes.
    """
    path = Path(path)
    with _open_video(path) as (container, stream):
        fps = _frame_rate(stream)
        time_base = float(stream.time_base) if stream.time_base else 0.0
        start_pts = stream.start_time or 0
        errors: list[str] = []
        count = -1
        for count, frame in enumerate(_decoded_frames(container, stream, errors)):
            if frame.pts is None or fps <= 0 or time_base <= 0:
                yield count, frame
            else:
                yield round((frame.pts - start_pts) * time_base * fps), frame
        if count < 0:
            reason = f" ({errors[-1]})" if errors else ""
            raise VideoDecodeError(f"{path}: no frame could be decoded{reason}")


@contextmanager
def _open_video(
    path: Path, *, threads: int = 1
) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open ``path`` for reading its first video stream; every failure becomes VideoDecodeError."""
    import av

    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: the file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, *_READ_ERRORS) as error:
        raise VideoDecodeError(f"{path}: cannot open as a video ({_reason(error)})") from error
    with container:
        if not container.streams.video:
            raise VideoDecodeError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        # DataLoader workers already decode one video each in parallel; a thread pool per
        # decoder would oversubscribe the cores and, with frame threading, delay each frame.
        if threads == 1:
            stream.thread_type = "NONE"
        else:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
        yield container, stream


def _reason(error: BaseException) -> str:
    # FFmpeg's messages repeat the file name, which the caller's message already starts with.
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _frame_rate(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return 0.0


def _frames_from_metadata(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, fps: float
) -> int:
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if fps <= 0:
        return 0
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base) * fps)
    if container.duration and container.duration > 0:
        import av

        return round(container.duration / av.time_base * fps)
    return 0


def _count_packets(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path
) -> int:
    import av

    count = 0
    try:
        for packet in container.demux(stream):
            count += packet.size > 0  # the demuxer ends with an empty flush packet
    except (av.FFmpegError, *_READ_ERRORS):
        pass  # a damaged tail: the packets before it are still frames
    return count


def _decoded_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    errors: list[str],
    *,
    needed: Callable[[], int] | None = None,
    index_of: Callable[[int], int] | None = None,
) -> Iterator[av.VideoFrame]:
    """Decode forward from the current position, getting past what damage can be got past.

    Errors are appended to ``errors`` rather than raised: the frames around a damaged packet
    are still good, and whether the losses matter is the caller's decision. A packet that fails
    to decode is dropped (the decoder picks up again, at the latest at the next keyframe); a
    read error of the demuxer ends the stream, as nothing after it can be located.

    With ``needed`` (the index of the next frame the caller wants) and ``index_of`` (a
    timestamp's frame index), only the frames a clip needs are decoded: packets of frames
    before the needed one are held back undecoded. If a keyframe not after the needed frame
    turns up, the packets before it were only leading up to it (a keyframe decodes on its own):
    they are dropped and the decoder flushed, as a seek would. The packets held are decoded
    when a packet at or after the needed frame arrives, or at the end. Everything before a
    keyframe in decoding order is shown before it, so nothing dropped is needed, B-frames or not.
    """
    import av

    held: list[av.Packet] = []

    def decode(packets: list[av.Packet]) -> Iterator[av.VideoFrame]:
        for packet in packets:
            try:
                yield from packet.decode()
            except (av.FFmpegError, *_READ_ERRORS) as error:
                errors.append(_reason(error))

    try:
        for packet in container.demux(stream):
            if needed is not None and index_of is not None and packet.pts is not None and packet.size > 0:
                index, wanted = index_of(packet.pts), needed()
                if packet.is_keyframe and index <= wanted:
                    if held:
                        held.clear()
                        stream.codec_context.flush_buffers()
                    if index < wanted:
                        held.append(packet)  # another keyframe may yet come before the needed frame
                        continue
                elif index < wanted:
                    held.append(packet)
                    continue
            yield from decode([*held, packet])
            held.clear()
    except (av.FFmpegError, *_READ_ERRORS) as error:
        errors.append(_reason(error))
    yield from decode(held)  # the video ended before the needed frame: its last frames stand in


# Frames farther apart than this are reached by a new seek rather than by decoding the gap:
# a keyframe interval is typically 12-250 frames, so a larger gap is cheaper to jump.
RESEEK_GAP = 64


def _is_seekable(stream: av.video.stream.VideoStream) -> bool:
    return _frame_rate(stream) > 0 and bool(stream.time_base)


def _seek_runs(targets: list[int], *, seekable: bool) -> list[list[int]]:
    """Sorted targets cut where consecutive ones are more than ``RESEEK_GAP`` frames apart.

    A clip spread over a long video (the uniform sampler) then costs one short decode per run
    instead of decoding the whole video. Without timestamps a frame's index is only known by
    counting from the start, so an unseekable stream stays one run.
    """
    if not seekable:
        return [targets]
    runs = [[targets[0]]]
    for previous, target in itertools.pairwise(targets):
        if target - previous > RESEEK_GAP:
            runs.append([])
        runs[-1].append(target)
    return runs


def _decode_targets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    targets: list[int],
    path: Path,
    *,
    seek: bool,
    converter: RgbConverter,
) -> dict[int, np.ndarray] | None:
    """RGB arrays of the sorted, unique frame ``targets``; ``None`` asks for a retry without seeking."""
    fps = _frame_rate(stream)
    time_base = float(stream.time_base) if stream.time_base else 0.0
    start_pts = stream.start_time or 0
    seekable = _is_seekable(stream)

    def _index_of(pts: int) -> int:
        return round((pts - start_pts) * time_base * fps)

    # Seeking costs an index lookup and a decoder flush; at the start it gains nothing.
    seeked = seek and seekable and targets[0] > 0
    if seeked:
        import av

        target_pts = start_pts + round(targets[0] / (fps * time_base))
        try:
            container.seek(target_pts, stream=stream, backward=True, any_frame=False)
        except (av.FFmpegError, *_READ_ERRORS):
            return None

    out: dict[int, np.ndarray] = {}
    pending = 0  # position in targets of the next frame to fill
    last: PendingRgb | None = None
    errors: list[str] = []
    # Frames are skipped by their timestamps; the retry without seeking decodes every frame.
    skipping = {"needed": lambda: targets[pending], "index_of": _index_of} if seek and seekable else {}
    for count, frame in enumerate(_decoded_frames(container, stream, errors, **skipping)):
        if frame.pts is None or not seekable:
            if seeked or skipping:
                return None  # without timestamps only counting from frame 0 tells which frame this is
            index = count
        else:
            index = _index_of(frame.pts)
        current = PendingRgb(frame, converter)
        if seeked and last is None and index > targets[0]:
            return None  # landed after the first frame we need
        while pending < len(targets) and targets[pending] < index:
            # A timestamp gap skipped this frame (variable frame rate): the nearest earlier one stands in.
            out[targets[pending]] = (last or current).rgb()
            pending += 1
        if pending < len(targets) and targets[pending] == index:
            out[targets[pending]] = current.rgb()
            pending += 1
        last = current
        if pending == len(targets):
            return out
    if last is None:
        if seeked:
            return None  # perhaps a truncated file whose index points past its end
        reason = f" ({errors[-1]})" if errors else ""
        raise VideoDecodeError(f"{path}: no frame could be decoded{reason}")
    # The video ended (or broke off) before the last frame we need: its last frame stands in.
    for target in targets[pending:]:
        out[target] = last.rgb()
    return out

